/* llmbill: export and attribute macros shared by the public headers. */
#ifndef LLMBILL_EXPORT_H
#define LLMBILL_EXPORT_H

/* LLMBILL_API marks the library's public functions. The library is built with
 * hidden visibility, so only functions carrying this macro are exported. */
#if defined(_WIN32)
#  if defined(LLMBILL_BUILDING_SHARED)
#    define LLMBILL_API __declspec(dllexport)
#  else
#    define LLMBILL_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define LLMBILL_API __attribute__((visibility("default")))
#else
#  define LLMBILL_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define LLMBILL_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#  define LLMBILL_NODISCARD __attribute__((warn_unused_result))
#else
#  define LLMBILL_PRINTF(fmt_idx, args_idx)
#  define LLMBILL_NODISCARD
#endif

#endif /* LLMBILL_EXPORT_H */
