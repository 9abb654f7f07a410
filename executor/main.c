/* lamfleet-executor: one executor worker. */
#include "executor.h"
#include "worker_main.h"

int main(int argc, char **argv) {
  return lf_worker_main(&lf_executor_handler, argc, argv);
}
