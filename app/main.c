/* main.c - the nmlab executable: command-line entry point. */
#include "nmlab_config.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("nmlab %s\n", NMLAB_VERSION);
        return 0;
    }
    printf("nmlab %s\n", NMLAB_VERSION);
    return 0;
}
