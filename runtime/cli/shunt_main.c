/* shunt: the command-line tool's entry point (placeholder). */
#include <stdio.h>
int main(void) { fprintf(stderr, "shunt: not built yet\n"); return 1; }
