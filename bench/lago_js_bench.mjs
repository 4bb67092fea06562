// The same events sent by Lago's official JavaScript client (npm
// lago-javascript-client), in batches of 100 (createBatchEvents) or one call
// per event (createEvent, LiteLLM's pattern), or batches of 100 with 4 in
// flight (batch4). Prints client CPU per 100k events and events/s.
// usage: node lago_js_bench.mjs BASE_URL API_KEY EVENTS batch|batch4|single
import { Client } from 'lago-javascript-client';
import { randomUUID } from 'node:crypto';

const [base, key, nStr, mode] = process.argv.slice(2);
const n = Number(nStr);
const client = Client(key, { baseUrl: `${base}/api/v1` });

function event(i) {
  return {
    transaction_id: randomUUID(),
    external_subscription_id: `sub_${i % 1000}`,
    code: 'llm_usage',
    timestamp: Date.now() / 1000,
    properties: { model: 'gpt-4o-mini', provider: 'openai', input_tokens: 1200,
      output_tokens: 250, cached_input_tokens: 1000, cache_creation_input_tokens: 0,
      reasoning_tokens: 0, total_tokens: 1450 },
  };
}

const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
if (mode === 'batch') {
  for (let i = 0; i < n; i += 100) {
    const events = [];
    for (let k = i; k < Math.min(n, i + 100); k++) events.push(event(k));
    await client.events.createBatchEvents({ events });
  }
} else if (mode === 'batch4') {
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next;
      next += 100;
      if (i >= n) return;
      const events = [];
      for (let k = i; k < Math.min(n, i + 100); k++) events.push(event(k));
      await client.events.createBatchEvents({ events });
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
} else {
  for (let i = 0; i < n; i++) await client.events.createEvent({ event: event(i) });
}
const cpu = process.cpuUsage(c0);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpuS = (cpu.user + cpu.system) / 1e6;
console.log(`lago-javascript-client ${mode}: ${n} events, ${secs.toFixed(2)} s, ` +
  `${(n / secs).toFixed(0)} events/s, client CPU ${(cpuS * 100000 / n).toFixed(3)} s per 100k events`);
console.log(`RESULT js_${mode} ${(cpuS * 100000 / n).toFixed(6)}`);
console.log(`RATE js_${mode} ${(n / secs).toFixed(0)}`);
