/* Switch the CPU to 32-bit compatibility mode with a far return to selector 0x23, hidden from
 * a linear disassembly (the `lretq` bytes 48 cb are the immediate of a movabs), then make i386
 * system calls with `int 0x80` (also hidden): write(1, "ESCAPED ...") and exit(42).
 * The run-time policy must kill the session at the first 32-bit system call. */
#include <unistd.h>

__asm__(".text\n"
        ".globl far_carrier\n"
        "far_carrier:\n"
        "  .byte 0x48, 0xb8\n"                                     /* movabs rax, imm64  */
        "  .byte 0x48, 0xcb, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90\n" /* lretq              */
        "  ret\n"
        ".globl int80_exit_carrier\n"
        "int80_exit_carrier:\n"
        "  .byte 0x48, 0xb8\n"                  /* movabs rax, imm64: in 32-bit mode from +2: */
        "  .byte 0xcd, 0x80, 0x31, 0xc0, 0x40, 0xb3, 0x2a, 0xcd\n" /* int 0x80; xor eax,eax; */
        "  .byte 0x80, 0xc0, 0x00\n"            /* inc eax; mov bl,42; int 0x80 | add al,0    */
        "  ret\n"
        ".code32\n"
        ".globl code32_entry\n"
        "code32_entry:\n"
        "  mov $4, %eax\n"
        "  mov $1, %ebx\n"
        "  mov $far_message, %ecx\n"
        "  mov $far_message_end - far_message, %edx\n"
        "  jmp int80_exit_carrier + 2\n"
        ".code64\n"
        ".section .rodata\n"
        "far_message: .ascii \"ESCAPED 32-bit mode int 0x80 write\\n\"\n"
        "far_message_end:\n"
        ".text\n");

extern char far_carrier[], code32_entry[];

int main(void)
{
    write(1, "switching to 32-bit mode\n", 25);
    __asm__ volatile("push $0x23\n\t"
                     "push %%rax\n\t"
                     "jmp *%%rsi"
                     :
                     : "a"(code32_entry), "S"(far_carrier + 2)
                     : "memory");
    return 0;
}
