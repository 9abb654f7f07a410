/* lamfleet-planner: one planner worker. */
#include "planner.h"
#include "worker_main.h"

int main(int argc, char **argv) {
  return lf_worker_main(&lf_planner_handler, argc, argv);
}
