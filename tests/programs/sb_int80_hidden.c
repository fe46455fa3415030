/* `int 0x80` that a linear disassembly of the executable never sees: its bytes (cd 80 c3) are
 * the immediate operand of a `movabs rax, imm64` and the program jumps into the middle of that
 * instruction. Proves the run-time layer: the i386 write(1, ...) must never happen; the
 * session must be killed by the seccomp policy (non-native ABI). */
#include <stdio.h>
#include <unistd.h>

__asm__(".text\n"
        ".globl int80_carrier\n"
        "int80_carrier:\n"
        "  .byte 0x48, 0xb8\n"                               /* movabs rax, imm64 ...   */
        "  .byte 0xcd, 0x80, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90\n" /* int 0x80; ret     */
        "  ret\n");

extern char int80_carrier[];
static const char message[] = "ESCAPED hidden int 0x80 write\n";

int main(void)
{
    long rc;
    write(1, "calling hidden int 0x80\n", 24);
    __asm__ volatile("sub $128, %%rsp\n\t"
                     "call *%%rsi\n\t"
                     "add $128, %%rsp"
                     : "=a"(rc)
                     : "a"(4), "b"(1), "c"(message), "d"(sizeof message - 1),
                       "S"(int80_carrier + 2)
                     : "memory");
    printf("ESCAPED hidden int 0x80 returned %ld\n", rc);
    return 0;
}
