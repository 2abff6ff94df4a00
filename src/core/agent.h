/* The agent subsystem of the manager's table: identity, mesh, control-plane session. */
#pragma once

struct subsystem_ops;
extern const struct subsystem_ops agent_subsystem_ops;
