#!/bin/sh
# Makes the local CA and the certificates of the `secure` compose profile
# into /certs (a volume), once: Kafka's PEM keystore and truststore, Redis's
# certificate and its ACL file. Example material for a laptop only.
set -eu
cd /certs
[ -f done ] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=cxpulse local CA" -keyout ca.key -out ca.pem
for host in kafka-secure redis-secure; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout "$host.key" -out "$host.csr"
  printf 'subjectAltName=DNS:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' "$host" > "$host.ext"
  openssl x509 -req -in "$host.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile "$host.ext" -out "$host.crt"
done
# Kafka reads PEM stores: the key (PKCS#8) and its chain in one file.
openssl pkcs8 -topk8 -nocrypt -in kafka-secure.key -out kafka-secure.p8
cat kafka-secure.p8 kafka-secure.crt > kafka-keystore.pem
# Redis's users: the default user off, cx with the rights of docs/security.md.
printf 'user default off\nuser cx on >%s resetkeys ~cxpulse:* resetchannels -@all +@read +@write +@scripting +@transaction +@connection +time -@dangerous\n' \
  "$(cat /run/secrets/redis_password)" > users.acl
chmod 0644 ./*
touch done
