/* Replays files through a fuzz target's LLVMFuzzerTestOneInput without libFuzzer: the
 * ordinary build runs every target over its seeds and the inputs of crashes found and fixed
 * (fuzz/corpus/KIND, CTest's test_fuzz_KIND), so they stay fixed under any compiler.
 *   replay_KIND DIR|FILE...  */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap = 2 * cap + 4096);
            if (!grown) abort();
            buf = grown;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    int bad = 0, n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int k = scandir(argv[i], &names, NULL, alphasort);
            for (int j = 0; j < k; j++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
                if (names[j]->d_name[0] != '.') bad |= replay_file(path), n++;
                free(names[j]);
            }
            free(names);
            if (k < 0) bad = 1;
        } else {
            bad |= replay_file(argv[i]), n++;
        }
    }
    printf("replayed %d inputs\n", n);
    return bad;
}
