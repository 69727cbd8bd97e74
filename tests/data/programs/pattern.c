/* Fills 256 private anonymous pages with a pattern that differs in every
 * page, says it is ready, then every 50 ms checks the pattern and writes
 * "ok" or "bad PAGE" to DIR/report (by rename). A restore that brought
 * pages back from the wrong place shows as "bad". Usage: pattern DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 256
#define PAGE 4096

static unsigned char value(size_t page, size_t off)
{
	return (unsigned char)(page * 131 + off * 7 + 1);
}

static void say(const char *dir, const char *name, const char *text)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	unsigned char *b = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return 1;
	for (size_t p = 0; p < PAGES; p++)
		for (size_t o = 0; o < PAGE; o++)
			b[p * PAGE + o] = value(p, o);
	say(argv[1], "ready", "ready\n");
	for (;;) {
		char text[64] = "ok\n";
		for (size_t p = 0; p < PAGES; p++) {
			size_t o;
			for (o = 0; o < PAGE && b[p * PAGE + o] == value(p, o); o++)
				;
			if (o < PAGE) {
				snprintf(text, sizeof(text), "bad %zu\n", p);
				break;
			}
		}
		say(argv[1], "report", text);
		usleep(50000);
	}
}
