/* Internals of the bus shared with its unit tests. */
#ifndef STRATOS_BUS_BUS_PRIVATE_H
#define STRATOS_BUS_BUS_PRIVATE_H

/* Most messages one wake-up of the loop delivers before it yields to other
 * handles; the rest wait for the next turn of the loop. */
#define ST_BUS__BATCH 1024u

/* Largest inbox capacity st_bus_init accepts. */
#define ST_BUS__MAX_CAP ((size_t)1 << 20)

#endif
