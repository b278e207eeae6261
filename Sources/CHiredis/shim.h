#ifndef CHAINFEED_CHIREDIS_SHIM_H
#define CHAINFEED_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
