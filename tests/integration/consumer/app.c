/* A program that uses an installed libpotter the way a user's would. */
#include <potter.h>
#include <stdio.h>

int main(void)
{
    int same = pt_version_number() == PT_VERSION_NUMBER;

    printf("potter %s %s\n", pt_version_string(), same ? "headers-match" : "headers-differ");
    PT_INFO(pt_log_default(), "hello", PT_INT("n", 1));
    return pt_log_flush(1000) == 0 && same ? 0 : 1;
}
