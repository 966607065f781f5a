/* prom_internal.h: what prom.c lets its tests reach. */
#ifndef PT_PROM_INTERNAL_H
#define PT_PROM_INTERNAL_H

/* `s` escaped as the text format 0.0.4 wants it: '\' as "\\" and a newline as "\n" always,
 * and '"' as "\"" when label_value is set (HELP text leaves quotes alone). Returns a
 * malloc'd string, or NULL when out of memory. */
char *pt__prom_escape(const char *s, int label_value);

#endif /* PT_PROM_INTERNAL_H */
