/* Crashes inside libshunt on purpose: fstat() of a served file into an
 * unmapped buffer (the kernel would say EFAULT; the client writes the
 * struct itself). fs_crash_report.sh checks the backtrace shunt prints. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 2;
	}
	struct stat *bad = (struct stat *)16;
	int r = fstat(fd, bad);
	printf("fstat returned %d\n", r);
	return 0;
}
