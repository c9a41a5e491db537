# Shared environment for the project's scripts (sourced, not run).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/yunying/target}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# DCMTK and Orthanc wait ~45 ms per PDU on delayed ACK without this.
export TCP_NODELAY=1
