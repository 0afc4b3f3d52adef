/* Private to the mesh module: building a mesh from MZI records. */
#ifndef UHNAS_HW_MESH_INTERNAL_H
#define UHNAS_HW_MESH_INTERNAL_H

#include "uhnas/mesh.h"

/* A mesh from n_mzis records in application order (m, θ, φ, α, amp are used; stage is
 * derived) and n output phases (NULL = 0). Sizes are trusted: callers have checked them. */
int uh_mesh_build(int n, int n_mzis, const uh_mzi_t *mzis, const double *out_phase, uh_mesh_t **out,
                  uh_error_t *err);

#endif
