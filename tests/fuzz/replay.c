/* Runs a fuzz target's LLVMFuzzerTestOneInput over every file in the directories (or files)
 * given on the command line: the seed corpus, replayed where libFuzzer is not linked in (gcc
 * builds, and `meson test --suite fuzz` in every configuration). */
#define _DEFAULT_SOURCE /* d_type */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1024 * 1024)

static int run_file(const char *path) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return -1;
	}
	uint8_t *data = malloc(REPLAY_MAX_INPUT);
	size_t size = data ? fread(data, 1, REPLAY_MAX_INPUT, f) : 0;
	fclose(f);
	if (data == NULL) {
		return -1;
	}
	(void)LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

int main(int argc, char **argv) {
	int inputs = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0) {
				return 1;
			}
			inputs++;
			continue;
		}
		DIR *dir = opendir(argv[i]);
		if (dir == NULL) {
			return 1;
		}
		for (struct dirent *e; (e = readdir(dir)) != NULL;) {
			if (e->d_name[0] == '.') {
				continue;
			}
			char path[4096];
			(void)snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (run_file(path) < 0) {
				closedir(dir);
				return 1;
			}
			inputs++;
		}
		closedir(dir);
	}
	printf("replayed %d inputs\n", inputs);
	return inputs > 0 ? 0 : 1;
}
