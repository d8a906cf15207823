/* shuntd: the file server's entry point (placeholder until the server lands). */
#include <stdio.h>
int main(void) { fprintf(stderr, "shuntd: not built yet\n"); return 1; }
