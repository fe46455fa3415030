/* Valid, but not deterministic: reads the time-stamp counter and the CPU identity.  The
 * validator accepts it and warns about `rdtsc` and `cpuid` in the named functions. */
#include <stdio.h>

__attribute__((noinline)) unsigned long read_tsc(void)
{
    unsigned int low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((unsigned long)high << 32) | low;
}

__attribute__((noinline)) unsigned int read_cpu_vendor(void)
{
    unsigned int a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return b;
}

int main(void)
{
    printf("%lu %u\n", read_tsc() > 0, read_cpu_vendor());
    return 0;
}
