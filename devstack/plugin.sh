#!/bin/bash
#
# zerocloud devstack plugin: storage-side compute in devstack's Swift.
#
#   [[local|localrc]]
#   enable_plugin zerocloud <zerocloud repository> [branch]
#
# devstack sources this file with its mode and phase as arguments:
#
#   stack pre-install   check the kernel; install libseccomp (the sandbox's seccomp library),
#                       gcc and the static C library (for the compiled jail launcher)
#   stack install       install the zerocloud package into Swift's Python environment
#   stack post-config   proxy pipeline: job_chain proxy_middleware right after the last
#                       authentication filter; every object server's pipeline:
#                       object_middleware right before the application; their filter
#                       sections (python system image, work directories); CAP_SYS_ADMIN
#                       for the devstack@s-object unit (the sandbox needs it)
#   stack extra         check that the running proxy advertises zerocloud in /info
#   unstack             remove exactly what post-config added (pipelines, sections, unit
#                       drop-in)
#   clean               the same, then uninstall the package and remove its data directory
#
# Running stack twice adds nothing twice.  There is no sandbox service to start: each
# object server starts its own sandbox supervisor at its first session.  Settings:
# devstack/settings; manual: devstack/README.md.

# Save trace setting
_XTRACE_ZEROCLOUD=$(set +o | grep xtrace)
set +o xtrace

ZEROCLOUD_PROXY_FILTERS="job_chain proxy_middleware"
ZEROCLOUD_OBJECT_FILTERS="object_middleware"
ZEROCLOUD_OBJECT_UNIT=devstack@s-object.service

# Pipelines
# ---------

# _zerocloud_without <pipeline> <filter>...: the pipeline without those filters
function _zerocloud_without {
    local word kept=""
    for word in $1; do
        [[ " ${*:2} " == *" $word "* ]] || kept+=" $word"
    done
    echo $kept
}

# _zerocloud_after_auth <pipeline>: the proxy filters right after the pipeline's last
# authentication filter; prints nothing if it has none
function _zerocloud_after_auth {
    local padded=" $1 " word auth=""
    for word in $1; do
        [[ " $ZEROCLOUD_AUTH_FILTERS " == *" $word "* ]] && auth=$word
    done
    [[ -n $auth ]] || return 0
    echo ${padded% $auth *} $auth $ZEROCLOUD_PROXY_FILTERS ${padded##* $auth }
}

# _zerocloud_before_app <pipeline>: the object filters right before the application
function _zerocloud_before_app {
    local padded=" $1"
    echo ${padded% *} $ZEROCLOUD_OBJECT_FILTERS ${padded##* }
}

# _zerocloud_pipeline <conf>: its [pipeline:main] pipeline
function _zerocloud_pipeline {
    iniget $1 pipeline:main pipeline
}

# _zerocloud_set_pipeline <conf> <pipeline>: write [pipeline:main] if it changes
function _zerocloud_set_pipeline {
    if [[ "$(_zerocloud_pipeline $1)" != "$2" ]]; then
        iniset $1 pipeline:main pipeline "$2"
    fi
}

# _zerocloud_remove_section <conf> <section>: delete the section, its lines and the blank
# line iniset put before it (devstack's ini helpers have no such function)
function _zerocloud_remove_section {
    local conf=$1 tmp
    grep -q "^\[$2\]" $conf || return 0
    tmp=$(mktemp)
    awk -v header="[$2]" '
        function flush(  i) { for (i = 1; i <= held; i++) print blank[i]; held = 0 }
        skipping && /^\[/ { skipping = 0 }
        /^[ \t]*$/ { blank[++held] = $0; next }
        skipping { held = 0; next }
        index($0, header) == 1 { if (held > 0) held--; flush(); skipping = 1; next }
        { flush(); print }
        END { if (!skipping) flush() }' $conf > $tmp
    cat $tmp > $conf
    rm -f $tmp
}

# _zerocloud_unconfigure <conf> <filter>...: the filters out of the pipeline, their
# sections deleted
function _zerocloud_unconfigure {
    local conf=$1 section
    [[ -f $conf ]] || return 0
    _zerocloud_set_pipeline $conf "$(_zerocloud_without "$(_zerocloud_pipeline $conf)" ${@:2})"
    for section in ${@:2}; do
        _zerocloud_remove_section $conf filter:$section
    done
}

# Servers
# -------

function _zerocloud_proxy_conf {
    echo ${SWIFT_CONF_DIR}/proxy-server.conf
}

function _zerocloud_object_confs {
    local conf
    for conf in ${SWIFT_CONF_DIR}/object-server/*.conf; do
        [[ -f $conf ]] && echo $conf
    done
}

function _zerocloud_configure_proxy {
    local conf pipeline
    conf=$(_zerocloud_proxy_conf)
    pipeline=$(_zerocloud_without "$(_zerocloud_pipeline $conf)" $ZEROCLOUD_PROXY_FILTERS)
    pipeline=$(_zerocloud_after_auth "$pipeline")
    if [[ -z $pipeline ]]; then
        die $LINENO "no authentication filter ($ZEROCLOUD_AUTH_FILTERS) in the pipeline of $conf"
    fi
    _zerocloud_set_pipeline $conf "$pipeline"
    iniset $conf filter:job_chain use egg:zerocloud#job_chain
    iniset $conf filter:proxy_middleware use egg:zerocloud#proxy_middleware
    iniset $conf filter:proxy_middleware zerovm_sysimage_devices "$ZEROCLOUD_SYSIMAGE_DEVICES"
}

function _zerocloud_configure_object {
    local conf=$1 pipeline
    pipeline=$(_zerocloud_without "$(_zerocloud_pipeline $conf)" $ZEROCLOUD_OBJECT_FILTERS)
    _zerocloud_set_pipeline $conf "$(_zerocloud_before_app "$pipeline")"
    iniset $conf filter:object_middleware use egg:zerocloud#object_middleware
    iniset $conf filter:object_middleware zerovm_sysimage_devices "$ZEROCLOUD_SYSIMAGE_DEVICES"
    iniset $conf filter:object_middleware zerovm_work_dir \
        $ZEROCLOUD_DATA_DIR/object-$(basename $conf .conf)
}

# The sandbox needs no privilege where unprivileged user namespaces are allowed (the
# default: ZEROCLOUD_OBJECT_CAPABILITIES empty, nothing granted).  Where a distribution
# forbids them, ZEROCLOUD_OBJECT_CAPABILITIES=CAP_SYS_ADMIN grants the object server unit
# that capability: devstack runs object server 1 as the devstack@s-object unit when
# SWIFT_REPLICAS is 1; swift-init starts the others.
function _zerocloud_grant_capabilities {
    [[ -n "$ZEROCLOUD_OBJECT_CAPABILITIES" ]] || return 0
    if [[ "$SWIFT_REPLICAS" != 1 || "$SWIFT_USE_MOD_WSGI" == "True" ]]; then
        warn $LINENO "object servers started by swift-init or apache run as $STACK_USER" \
            "without $ZEROCLOUD_OBJECT_CAPABILITIES: zerocloud jobs fail (isolation)"
        return 0
    fi
    sudo mkdir -p $SYSTEMD_DIR/$ZEROCLOUD_OBJECT_UNIT.d
    iniset -sudo $SYSTEMD_DIR/$ZEROCLOUD_OBJECT_UNIT.d/zerocloud.conf Service \
        AmbientCapabilities "$ZEROCLOUD_OBJECT_CAPABILITIES"
}

function _zerocloud_revoke_capabilities {
    local dropin=$SYSTEMD_DIR/$ZEROCLOUD_OBJECT_UNIT.d
    sudo rm -f $dropin/zerocloud.conf
    if [[ -d $dropin ]]; then
        sudo rmdir --ignore-fail-on-non-empty $dropin
    fi
}

# Phases
# ------

function check_zerocloud_kernel {
    local release major minor wanted_major wanted_minor
    release=$(uname -r)
    IFS=. read -r major minor _ <<< "$release"
    IFS=. read -r wanted_major wanted_minor <<< "$ZEROCLOUD_MIN_KERNEL"
    minor=${minor%%[^0-9]*}
    if (( major < wanted_major || (major == wanted_major && minor < wanted_minor) )); then
        die $LINENO "zerocloud's sandbox needs Linux >= $ZEROCLOUD_MIN_KERNEL, this is $release"
    fi
}

# Swift's environment: its own venv when devstack gives every project one (USE_VENV)
function _zerocloud_in_swift_env {
    local venv=""
    if [[ "$USE_VENV" == "True" ]]; then
        venv=${PROJECT_VENV["swift"]}
    fi
    PIP_VIRTUAL_ENV=$venv "$@"
}

function install_zerocloud {
    _zerocloud_in_swift_env setup_develop $ZEROCLOUD_DIR
}

function configure_zerocloud {
    local conf
    if is_service_enabled s-proxy; then
        _zerocloud_configure_proxy
    fi
    if is_service_enabled s-object; then
        for conf in $(_zerocloud_object_confs); do
            _zerocloud_configure_object $conf
        done
        _zerocloud_grant_capabilities
    fi
}

function check_zerocloud_info {
    local url=$SWIFT_SERVICE_PROTOCOL://$SERVICE_HOST:$SWIFT_DEFAULT_BIND_PORT/info info
    is_service_enabled s-proxy || return 0
    info=$(curl -sf $url) || die $LINENO "cannot read $url"
    if [[ $info != *'"zerocloud"'* ]]; then
        die $LINENO "the proxy at $url does not advertise zerocloud in /info"
    fi
}

function unconfigure_zerocloud {
    local conf
    _zerocloud_unconfigure $(_zerocloud_proxy_conf) $ZEROCLOUD_PROXY_FILTERS
    for conf in $(_zerocloud_object_confs); do
        _zerocloud_unconfigure $conf $ZEROCLOUD_OBJECT_FILTERS
    done
    _zerocloud_revoke_capabilities
}

function cleanup_zerocloud {
    unconfigure_zerocloud
    _zerocloud_in_swift_env pip_uninstall zerocloud
    rm -rf $ZEROCLOUD_DATA_DIR
}

if is_service_enabled zerocloud; then
    if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
        check_zerocloud_kernel
        # gcc and the static C library: the object servers' sandbox supervisor compiles
        # its jail launcher (zerocloud/sandbox/launcher.c) at its first start
        if is_fedora; then
            install_package libseccomp gcc glibc-static
        else
            install_package libseccomp2 gcc libc6-dev
        fi
    elif [[ "$1" == "stack" && "$2" == "install" ]]; then
        install_zerocloud
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        configure_zerocloud
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        check_zerocloud_info
    fi
    if [[ "$1" == "unstack" ]]; then
        unconfigure_zerocloud
    fi
    if [[ "$1" == "clean" ]]; then
        cleanup_zerocloud
    fi
fi

# Restore xtrace
$_XTRACE_ZEROCLOUD
