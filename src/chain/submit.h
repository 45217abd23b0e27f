/* Inside the chain module: the table of chains by node behind
 * st_chain_submit (submit.c). */
#ifndef STRATOS_CHAIN_SUBMIT_H
#define STRATOS_CHAIN_SUBMIT_H

struct st_chain;

/* Enters a chain (its node set) in the table / takes it out. */
void st_chain__attach(struct st_chain *ch);
void st_chain__detach(struct st_chain *ch);

#endif
