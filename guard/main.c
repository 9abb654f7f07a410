/* lamfleet-guard: one guard worker. */
#include "guard.h"
#include "worker_main.h"

int main(int argc, char **argv) {
  return lf_worker_main(&lf_guard_handler, argc, argv);
}
