#ifndef CHAINFEED_CLIBPQ_SHIM_H
#define CHAINFEED_CLIBPQ_SHIM_H
#include <postgresql/libpq-fe.h>
#endif
