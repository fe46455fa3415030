/* A shared object (built with -shared -fPIC -nostdlib, not by c_program) that must never be
 * loaded inside a session: user data turned into native code. Its constructor writes
 * "ESCAPED ..." with a raw write(2); zc_probe() returns 1337. */
static void __attribute__((constructor)) announce(void)
{
    static const char message[] = "ESCAPED native code from a channel ran\n";
    long rc;
    __asm__ volatile("syscall"
                     : "=a"(rc)
                     : "a"(1), "D"(1), "S"(message), "d"(sizeof message - 1)
                     : "rcx", "r11", "memory");
}

int zc_probe(void)
{
    return 1337;
}
