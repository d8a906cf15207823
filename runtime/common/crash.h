/* Crash reports: a fatal signal raised by code inside libshunt.so prints a
 * symbolised backtrace (libunwind) to stderr (and, for a pc in the jump
 * switches' slot pages, what they know about it), then the process dies of that
 * signal as it would have. Faults elsewhere are left to the program. */
#ifndef SHUNT_CRASH_H
#define SHUNT_CRASH_H

/* Install the handlers; code_addr is any address inside the object whose
 * faults count as ours. */
void crash_init(const void *code_addr);

#endif
