/* potter.h: everything libpotter offers, one include. */
#ifndef POTTER_H
#define POTTER_H

#include "potter/version.h"
#include "potter/core.h"
#include "potter/config.h"
#include "potter/log.h"
#include "potter/stats.h"
#include "potter/health.h"
#include "potter/http.h"
#include "potter/prof.h"
#include "potter/heap.h"
#include "potter/ctl.h"
#include "potter/app.h"

#endif /* POTTER_H */
