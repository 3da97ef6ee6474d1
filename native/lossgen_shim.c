/* dred-rtc's thin shim over libopus's dnn/lossgen.c.
 *
 * lossgen is not part of libopus.so and its state struct size is only known to C,
 * so Python allocates through these two helpers. The generator draws from the C
 * library's rand(); seeding it here makes runs repeatable. */
#include <stdlib.h>
#include "lossgen.h"

size_t dredrtc_lossgen_state_size(void) { return sizeof(LossGenState); }

void dredrtc_lossgen_seed(unsigned int seed) { srand(seed); }
