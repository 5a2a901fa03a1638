# The front door for people who have `just`; every recipe calls a script or cargo.

# install prerequisites (bubblewrap, jq, pi into .local/pi)
setup:
    scripts/setup

# everything CI runs
test:
    scripts/test

# the demo: real pi against the bundled demo model, with a tool call
demo:
    scripts/demo

# regenerate man pages, completions and TypeScript protocol types
gen:
    cargo xtask gen

# fail if generated files drifted
check-gen:
    cargo xtask gen --check
