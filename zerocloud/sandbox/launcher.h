/* zc-launcher's two parts (see zerocloud/sandbox/launcher.py): the warm jail's last stage
 * (launcher.c) and the jail factory that clones warm jails (jail_factory.c). */
#ifndef ZC_LAUNCHER_H
#define ZC_LAUNCHER_H

#define CONTROL_FD 3        /* in a warm jail: the control socket (the plan comes here), */
#define FROM_PARENT 4       /* the sync pipe from the supervisor */
#define TO_PARENT 5         /* and the status pipe to it */
#define EXIT_JAIL_FAILED 126
#define NR_CLOSE_RANGE 436

/* In a warm jail, fds in place: "EOSError: <message>\n" on the status pipe, exit 126. */
void fail(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The warm jail (pid 1 of its namespaces, root inside, fds 3-5 in place): the rest of the
 * warm set-up, the session's plan, its program (never returns). */
void warm_jail(const char *name) __attribute__((noreturn));

/* "zc-launcher factory <socket fd> <supervisor pid>": serve the supervisor's requests for
 * warm jails until it closes the socket; the exit status. */
int factory_main(const char *socket_fd, const char *supervisor_pid);

#endif
