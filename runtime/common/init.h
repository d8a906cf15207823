/* The runtime's common start-up: configuration, log level, statistics.
 * Every mechanism's own init calls shunt_common_init() first; it runs once
 * (other callers wait), uses no malloc, and stops the program with a message
 * naming the key when the configuration is bad. */
#ifndef SHUNT_INIT_H
#define SHUNT_INIT_H

void shunt_common_init(void);
/* 1 once shunt_common_init() has finished in this process. */
int shunt_common_ready(void);
/* Registers work for the exit report (stats_report runs after all of it). */
void shunt_at_exit(void (*fn)(void));
/* Runs the registered exit work, then the stats report; idempotent. */
void shunt_run_exit(void);

#endif
