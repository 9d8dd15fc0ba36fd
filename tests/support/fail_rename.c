/* Fault injection for tests/outputs.rs, loaded with LD_PRELOAD: rename()
 * to a path ending in $FAIL_RENAME_TO fails with ENOSPC; every other
 * rename() is the C library's. Built by the test with `cc`; never part of
 * txanon itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *from, const char *to) {
    const char *suffix = getenv("FAIL_RENAME_TO");
    if (suffix != NULL && *suffix != '\0') {
        size_t n = strlen(to), m = strlen(suffix);
        if (n >= m && strcmp(to + n - m, suffix) == 0) {
            errno = ENOSPC;
            return -1;
        }
    }
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
