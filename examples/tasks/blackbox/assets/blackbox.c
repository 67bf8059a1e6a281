/* The hidden function. Compiled at start() into /home/agent/blackbox, executable but not readable. */
#include <stdio.h>
#include <stdlib.h>

static long f(long x) { return ((x * 7) ^ (x >> 2)) + 3; }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: blackbox N   (N an integer from 0 to 100000)\n");
        return 2;
    }
    char *end;
    long x = strtol(argv[1], &end, 10);
    if (*end != '\0' || x < 0 || x > 100000) {
        fprintf(stderr, "blackbox: N must be an integer from 0 to 100000\n");
        return 2;
    }
    printf("%ld\n", f(x));
    return 0;
}
