/* url_parse on any bytes, then every formatter on what it accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text = fuzz_text(data, size);
	if (text == NULL) {
		return 0;
	}
	struct rw_endpoint *ep = malloc(sizeof(*ep));
	struct rw_error err;
	if (ep != NULL && url_parse(text, ep, &err) == 0) {
		char buf[2048];
		(void)url_format_masked(ep, buf, sizeof(buf));
		(void)url_format_address(ep, buf, sizeof(buf));
		if (ep->sentinel) {
			struct rw_endpoint *other = malloc(sizeof(*other));
			if (other != NULL) {
				url_sentinel_endpoint(ep, ep->sentinel_count - 1, other);
				url_node_endpoint(ep, "127.0.0.1", 6379, other);
				(void)url_format_masked(other, buf, sizeof(buf));
				free(other);
			}
		}
	}
	free(ep);
	free(text);
	return 0;
}
