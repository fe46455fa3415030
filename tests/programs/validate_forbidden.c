/* One never-called function per instruction the validator must reject, each named after the
 * instruction so that a test can check the reason names it ("`int 0x80` at 0x... in
 * probe_int80").  main only references them through a table, so none of them ever runs. */
#include <stdio.h>

#define PROBE(name, text) \
    __attribute__((noinline, used)) void name(void) { __asm__ volatile(text ::: "memory"); }

PROBE(probe_int80, "int $0x80")
PROBE(probe_sysenter, "sysenter")
PROBE(probe_lcall, ".byte 0xff, 0x1c, 0x24")   /* lcall *(%rsp): FF /3 */
PROBE(probe_ljmp, ".byte 0xff, 0x2c, 0x24")    /* ljmp *(%rsp): FF /5 */
PROBE(probe_lret, "lretq")
PROBE(probe_iret, "iretq")
PROBE(probe_in, "inb $0x60, %%al")
PROBE(probe_out, "outb %%al, $0x80")
PROBE(probe_cli, "cli")
PROBE(probe_mov_ds, "mov %%eax, %%ds")
PROBE(probe_pop_fs, "pop %%fs")
PROBE(probe_lgdt, "lgdt (%%rsp)")
PROBE(probe_mov_cr0, "mov %%cr0, %%rax")
PROBE(probe_wrmsr, "wrmsr")

static void (*const probes[])(void) = {
    probe_int80, probe_sysenter, probe_lcall, probe_ljmp, probe_lret, probe_iret, probe_in,
    probe_out, probe_cli, probe_mov_ds, probe_pop_fs, probe_lgdt, probe_mov_cr0, probe_wrmsr,
};

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1000)  /* never */
        probes[argc % (sizeof probes / sizeof probes[0])]();
    puts("not reached in tests: the validator rejects this program");
    return 0;
}
