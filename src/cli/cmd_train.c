/* uhnas train — placeholder until the engine lands (replaced in this same change set). */
#include "cli.h"

int uh_cmd_train(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_fail(UH_EXIT_FAIL, "train: not built yet");
}
