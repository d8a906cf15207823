/* placeholder */
int shunt_preload_placeholder;
