/* main() of every worker program: flags, signals, run, exit status. */
#ifndef LF_WORKER_MAIN_H
#define LF_WORKER_MAIN_H

#include "worker.h"

/* Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a usage or
 * configuration error. */
int lf_worker_main(const lf_handler_t *h, int argc, char **argv);

#endif
