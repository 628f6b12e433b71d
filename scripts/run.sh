#!/bin/sh
# `make run`: create var/wxscene.ini (plain mode, a random token printed
# once, 127.0.0.1:8080) and var/wxscene.db when absent, print how to try it,
# then run wxscened in the foreground.
set -eu
build=${1:-build}
mkdir -p var
ini=var/wxscene.ini
if [ ! -f "$ini" ]; then
    token=$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)
    admin=$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)
    umask 027   # 0640: the service group may read it, no one else
    sed -e "s/^token = CHANGE_ME_TOKEN/token = $token/" \
        -e "s/^token = CHANGE_ME_ADMIN/token = $admin/" \
        -e "s|^path = .*|path = wxscene.db|" etc/wxscene.ini.example > "$ini"
    umask 022
    echo "created $ini (plain mode). Callback token, shown once, paste it into the WeChat console:"
    echo "    $token"
    echo "admin API token: $admin"
fi
# [store] path is relative to the config's directory (var/): an older
# var/wxscene.ini saying var/wxscene.db meant this same file.
sed -i 's|^path = var/wxscene.db|path = wxscene.db|' "$ini"
token=$(sed -n 's/^token *= *\([A-Za-z0-9]*\).*/\1/p' "$ini" | head -n 1)
"$build/wxscene" --config "$ini" channel list >/dev/null   # creates var/wxscene.db
cat <<EOT

Try it (another terminal):
  ts=\$(date +%s); n=\$RANDOM; sig=\$(printf '%s\n' "\$(sed -n 's/^token *= *\([A-Za-z0-9]*\).*/\1/p' $ini | head -n1)" \$ts \$n | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1)
  curl "http://127.0.0.1:8080/wx?signature=\$sig&timestamp=\$ts&nonce=\$n&echostr=hello"
  curl -H 'Content-Type: text/xml' "http://127.0.0.1:8080/wx?signature=\$sig&timestamp=\$ts&nonce=\$n" \\
    --data '<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oUSER1]]></FromUserName><CreateTime>'\$ts'</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_42]]></EventKey></xml>'
  $build/wxscene --config $ini channel add 42 --name "Store 42" --reply "Welcome to {channel}!"
  $build/wxscene --config $ini stats

Starting wxscened (Ctrl-C stops it)...
EOT
exec "$build/wxscened" --config "$ini"
