/* A test aid: CKPT_TEST_KILLPOINT="<name>:<rank>" makes that rank kill itself
 * with SIGKILL when it reaches the named point, so that tests can stop a job
 * deterministically in every phase of a save. Unset, it costs one getenv. */
#ifndef CKPT_KILLPOINT_H
#define CKPT_KILLPOINT_H

void killpoint(const char *name, int rank);

#endif
