{{/* Names ------------------------------------------------------------------ */}}

{{- define "ytx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name when it contains the chart name, else
"<release>-<chart>"; fullnameOverride wins. Every object's name starts with it.
*/}}
{{- define "ytx.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ytx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ytx.labels" -}}
helm.sh/chart: {{ include "ytx.chart" . }}
app.kubernetes.io/name: {{ include "ytx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ytx
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "ytx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ytx.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's objects. */}}
{{- define "ytx.componentLabels" -}}
{{ include "ytx.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The two images of the Dockerfile, as `make docker-build IMAGE=<repository>`
names them: the manager's (no ffmpeg, yt-dlp or deno) and the worker's, which
the doctor uses too, since it runs the worker's resolvers. */}}
{{- define "ytx.managerImage" -}}
{{- printf "%s-manager:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "ytx.workerImage" -}}
{{- printf "%s-worker:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Transport -------------------------------------------------------------- */}}

{{/*
Whether jobs go through Kafka: "true" with transport kafka, "" with http.
With http nothing of kafka.* is rendered: no Strimzi objects, no --kafka-*
flags, no Kafka Secrets mounted, no Kafka egress.
*/}}
{{- define "ytx.kafkaTransport" -}}
{{- if eq .Values.transport "kafka" }}true{{ end }}
{{- end }}

{{/* Whether the chart creates Strimzi's Kafka, KafkaNodePool, KafkaTopics and KafkaUsers. */}}
{{- define "ytx.strimzi" -}}
{{- if and (include "ytx.kafkaTransport" .) .Values.kafka.strimzi.enabled }}true{{ end }}
{{- end }}

{{/* The workers' job endpoint (transport http): the Service and its port. */}}
{{- define "ytx.workerService" -}}
{{- printf "%s-worker" (include "ytx.fullname" .) }}
{{- end }}

{{- define "ytx.jobsPort" -}}8090{{- end }}

{{/*
Transport http: where both pods mount the job token, the key of the Secret
jobToken.secretName (the same for both, so they hold the same token), and
what --job-token-file of both says. A directory mount, not subPath: the
kubelet updates it in place when the Secret changes, and the programs read
it again.
*/}}
{{- define "ytx.jobTokenDir" -}}/etc/ytx/job-token{{- end }}
{{- define "ytx.jobTokenFile" -}}{{ include "ytx.jobTokenDir" . }}/token{{- end }}

{{/* --worker-url: the worker Service's DNS name in the release's namespace. */}}
{{- define "ytx.workerURL" -}}
{{- printf "http://%s.%s.svc:%s" (include "ytx.workerService" .) .Release.Namespace (include "ytx.jobsPort" .) }}
{{- end }}

{{/*
The transport flags of a component; call with (dict "ctx" $ "component" "worker").
Kafka is the programs' default transport, so with kafka no --transport is
passed, only the --kafka-* flags.
*/}}
{{- define "ytx.transportArgs" -}}
{{- $ctx := .ctx }}
{{- if include "ytx.kafkaTransport" $ctx }}
{{- include "ytx.kafkaArgs" . }}
{{- else -}}
- --transport=http
- --job-token-file={{ include "ytx.jobTokenFile" $ctx }}
{{- if eq .component "controller" }}
- --worker-url={{ include "ytx.workerURL" $ctx }}
{{- else }}
- --jobs-bind-address=:{{ include "ytx.jobsPort" $ctx }}
{{- if not (kindIs "invalid" $ctx.Values.worker.jobsQueue) }}
- --jobs-queue={{ $ctx.Values.worker.jobsQueue }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Kafka ------------------------------------------------------------------ */}}

{{/* Name of the Strimzi Kafka cluster. */}}
{{- define "ytx.kafkaCluster" -}}
{{- printf "%s-kafka" (include "ytx.fullname" .) }}
{{- end }}

{{/*
Name of the cluster's only KafkaNodePool: kafka.strimzi.poolName, else the
full name. Not a fixed short name: pool names are unique in a namespace, and
two releases in one namespace with the same pool name would fight over one
KafkaNodePool (under `helm template | kubectl apply`, or Argo CD, the second
would silently take the first's nodes).
*/}}
{{- define "ytx.kafkaPool" -}}
{{- default (include "ytx.fullname" .) .Values.kafka.strimzi.poolName }}
{{- end }}

{{- define "ytx.deadLetterTopic" -}}
{{- default (printf "%s.dlq" .Values.kafka.topic) .Values.kafka.deadLetterTopic }}
{{- end }}

{{- /* The workers' group of the listing topic, as the program defaults it. */}}
{{- define "ytx.listingGroup" -}}
{{- default (printf "%s.listings" .Values.kafka.group) .Values.kafka.listingGroup }}
{{- end }}

{{/* Replicas of the topics and internal topics: min(3, nodes). */}}
{{- define "ytx.kafkaReplicationFactor" -}}
{{- min 3 (int .Values.kafka.strimzi.replicas) }}
{{- end }}

{{- define "ytx.kafkaBrokers" -}}
{{- if .Values.kafka.strimzi.enabled }}
{{- printf "%s-kafka-bootstrap.%s.svc:9093" (include "ytx.kafkaCluster" .) .Release.Namespace }}
{{- else }}
{{- join "," .Values.kafka.external.brokers }}
{{- end }}
{{- end }}

{{/* Whether the pods mount a CA for the brokers: "true" or "". */}}
{{- define "ytx.kafkaCA" -}}
{{- if not (include "ytx.kafkaTransport" .) }}
{{- else if .Values.kafka.strimzi.enabled }}true
{{- else if and .Values.kafka.external.tls.enabled .Values.kafka.external.tls.caSecret.name }}true
{{- end }}
{{- end }}

{{/* The SASL mechanism, empty for none (and with transport http). */}}
{{- define "ytx.kafkaSASL" -}}
{{- if not (include "ytx.kafkaTransport" .) }}
{{- else if .Values.kafka.strimzi.enabled }}SCRAM-SHA-512
{{- else }}{{ .Values.kafka.external.sasl.mechanism }}
{{- end }}
{{- end }}

{{/* The SASL user of a component; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "ytx.kafkaUsername" -}}
{{- if .ctx.Values.kafka.strimzi.enabled }}
{{- printf "%s-%s" (include "ytx.fullname" .ctx) .component }}
{{- else }}
{{- .ctx.Values.kafka.external.sasl.username }}
{{- end }}
{{- end }}

{{/* The Kafka flags of a component; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "ytx.kafkaArgs" -}}
{{- $ctx := .ctx }}
{{- $component := .component }}
{{- $k := $ctx.Values.kafka -}}
- --kafka-brokers={{ include "ytx.kafkaBrokers" $ctx }}
{{- if include "ytx.kafkaCA" $ctx }}
- --kafka-tls-ca=/etc/ytx/kafka-ca/ca.crt
{{- else if and (not $k.strimzi.enabled) $k.external.tls.enabled }}
- --kafka-tls=true
{{- end }}
{{- with include "ytx.kafkaSASL" $ctx }}
- --kafka-sasl-mechanism={{ . }}
- --kafka-username={{ include "ytx.kafkaUsername" (dict "ctx" $ctx "component" $component) }}
- --kafka-password-file=/etc/ytx/kafka-user/password
{{- end }}
- --kafka-topic={{ $k.topic }}
- --kafka-listing-topic={{ $k.listingTopic }}
{{- /* The controller reads the workers' group to find lost jobs. */}}
- --kafka-group={{ $k.group }}
{{- if eq $component "worker" }}
- --kafka-dead-letter-topic={{ include "ytx.deadLetterTopic" $ctx }}
- --kafka-listing-group={{ include "ytx.listingGroup" $ctx }}
{{- end }}
{{- end }}

{{/* Storage ---------------------------------------------------------------- */}}

{{/*
Whether the chart runs its trial S3 server (storage.s3.trialServer): "true"
with storage.type s3 and trialServer.enabled, else "".
*/}}
{{- define "ytx.trialS3" -}}
{{- if and (eq .Values.storage.type "s3") .Values.storage.s3.trialServer.enabled }}true{{ end }}
{{- end }}

{{/* The trial server's Deployment, Service, claim and (made) Secret. */}}
{{- define "ytx.trialS3Name" -}}
{{- printf "%s-s3" (include "ytx.fullname" .) }}
{{- end }}

{{- define "ytx.trialS3Port" -}}7070{{- end }}

{{- define "ytx.s3Bucket" -}}
{{- if include "ytx.trialS3" . }}{{ default "ytx" .Values.storage.s3.bucket }}{{ else }}{{ .Values.storage.s3.bucket }}{{ end }}
{{- end }}

{{/* host:port of S3; empty: AWS. The trial server: its Service. */}}
{{- define "ytx.s3Endpoint" -}}
{{- if include "ytx.trialS3" . }}
{{- printf "%s.%s.svc:%s" (include "ytx.trialS3Name" .) .Release.Namespace (include "ytx.trialS3Port" .) }}
{{- else }}
{{- .Values.storage.s3.endpoint }}
{{- end }}
{{- end }}

{{/* versitygw answers for one region, us-east-1 unless told another. */}}
{{- define "ytx.s3Region" -}}
{{- if include "ytx.trialS3" . }}{{ default "us-east-1" .Values.storage.s3.region }}{{ else }}{{ .Values.storage.s3.region }}{{ end }}
{{- end }}

{{/*
The Secret holding the S3 credentials: storage.s3.credentialsSecret.name,
else with the trial server the one the chart makes; empty: none (IAM role).
*/}}
{{- define "ytx.s3CredentialsSecret" -}}
{{- if .Values.storage.s3.credentialsSecret.name }}{{ .Values.storage.s3.credentialsSecret.name }}
{{- else if include "ytx.trialS3" . }}{{ include "ytx.trialS3Name" . }}
{{- end }}
{{- end }}

{{/*
Whether the chart makes the trial server's Secret: "true" with the trial
server and no credentialsSecret.name.
*/}}
{{- define "ytx.trialS3MakesSecret" -}}
{{- if and (include "ytx.trialS3" .) (not .Values.storage.s3.credentialsSecret.name) }}true{{ end }}
{{- end }}

{{/*
The keys of the Secret the chart makes for the trial server, as a dict with
"access" and "secret": those of the Secret already in the cluster (so that
upgrades keep them: the server and the files are the same), else new random
ones. They are made once per render and remembered in the values, so that
the Secret and the pods' checksum annotation agree. Under `helm template`
(and Argo CD, dry runs) lookup finds nothing: new keys with every render.
*/}}
{{- define "ytx.trialS3Keys" -}}
{{- $t := .Values.storage.s3.trialServer }}
{{- if not (hasKey $t "_keys") }}
{{- $c := .Values.storage.s3.credentialsSecret }}
{{- $keys := dict "access" (randAlphaNum 20) "secret" (randAlphaNum 40) }}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "ytx.trialS3Name" .) }}
{{- if and $old $old.data (hasKey $old.data $c.accessKeyKey) (hasKey $old.data $c.secretKeyKey) }}
{{- $keys = dict "access" (index $old.data $c.accessKeyKey | b64dec) "secret" (index $old.data $c.secretKeyKey | b64dec) }}
{{- end }}
{{- $_ := set $t "_keys" $keys }}
{{- end }}
{{- toJson (get $t "_keys") }}
{{- end }}

{{/*
Pod annotations of the pods that use the trial server's made Secret (the
server, the controller, the workers): when its keys change (only under
helm template), they restart together, since a running pod keeps the keys
it started with.
*/}}
{{- define "ytx.trialS3Checksum" -}}
{{- if include "ytx.trialS3MakesSecret" . -}}
checksum/s3-credentials: {{ include "ytx.trialS3Keys" . | sha256sum }}
{{- end }}
{{- end }}

{{- define "ytx.storageURL" -}}
{{- if eq .Values.storage.type "s3" }}
{{- $s3 := .Values.storage.s3 }}
{{- $q := list }}
{{- with include "ytx.s3Endpoint" . }}{{ $q = append $q (printf "endpoint=%s" .) }}{{ end }}
{{- with include "ytx.s3Region" . }}{{ $q = append $q (printf "region=%s" (urlquery .)) }}{{ end }}
{{- if or $s3.insecure (include "ytx.trialS3" .) }}{{ $q = append $q "insecure=true" }}{{ end }}
{{- printf "s3://%s" (include "ytx.s3Bucket" .) }}
{{- with trimAll "/" $s3.prefix }}/{{ . }}{{ end }}
{{- with $q }}?{{ join "&" . }}{{ end }}
{{- else -}}
file:///var/lib/ytx
{{- end }}
{{- end }}

{{- define "ytx.pvcName" -}}
{{- default (printf "%s-data" (include "ytx.fullname" .)) .Values.storage.pvc.existingClaim }}
{{- end }}

{{/* The port of the S3 endpoint (443 without one). */}}
{{- define "ytx.s3Port" -}}
{{- $ep := include "ytx.s3Endpoint" . }}
{{- if $ep }}{{ last (splitList ":" $ep) }}{{ else }}443{{ end }}
{{- end }}

{{/* Durations -------------------------------------------------------------- */}}

{{/* Seconds in a Go duration made of whole hours, minutes and seconds. */}}
{{- define "ytx.seconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[hms]" . -1 }}
{{- $n := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" .))) }}
{{- if hasSuffix "h" . }}{{ $total = add $total (mul $n 3600) }}
{{- else if hasSuffix "m" . }}{{ $total = add $total (mul $n 60) }}
{{- else }}{{ $total = add $total $n }}{{ end }}
{{- end }}
{{- $total }}
{{- end }}

{{- define "ytx.workerTerminationGrace" -}}
{{- $grace := int (include "ytx.seconds" .Values.worker.shutdownGrace) }}
{{- if kindIs "invalid" .Values.worker.terminationGracePeriodSeconds }}
{{- add $grace 15 }}
{{- else }}
{{- .Values.worker.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Validation: fails rendering with a message that names the value. --------- */}}

{{- define "ytx.validate" -}}
{{- $k := .Values.kafka }}
{{- range $i, $u := .Values.youtube.proxy.urls }}
{{- $authority := index (splitList "/" (regexReplaceAll "^[a-z0-9]+://" $u "")) 0 }}
{{- if contains "@" $authority }}
{{- /* The URL is not repeated: it holds a password. */}}
{{- fail (printf "youtube.proxy.urls[%d] carries credentials, which would be on the workers' command line for anyone who can list processes or read the Deployment: put that proxy in the Secret of youtube.proxy.secretName instead" $i) }}
{{- end }}
{{- end }}
{{- if and .Values.keda.enabled (eq .Values.transport "http") }}
{{- fail "keda.enabled is true but transport is http: KEDA scales the workers on the Kafka consumer group's lag, and with transport http there is no Kafka; set keda.enabled=false (and worker.replicas), or use transport kafka" }}
{{- end }}
{{- if and (eq .Values.transport "http") (not .Values.jobToken.secretName) }}
{{- fail (printf "jobToken.secretName is empty but transport is http: the workers take a job only with the token of that Secret, which the chart never creates (a token made at render time would change with every upgrade). Create it once, e.g. kubectl -n %s create secret generic %s-job-token --from-literal=token=\"$(head -c 32 /dev/urandom | base64)\", and set jobToken.secretName=%s-job-token" .Release.Namespace (include "ytx.fullname" .) (include "ytx.fullname" .)) }}
{{- end }}
{{- with .Values.controller.queuedTimeout }}
{{- if and (eq $.Values.transport "http") (eq (int (include "ytx.seconds" .)) 0) }}
{{- fail (printf "controller.queuedTimeout is %s with transport http: a job that a worker accepted and lost before claiming it would stay Queued for ever; leave it empty (the heartbeat timeout) or set a duration above 0" .) }}
{{- end }}
{{- end }}
{{- /* With transport http every kafka.* value is ignored, so it is not checked either. */}}
{{- if include "ytx.kafkaTransport" . }}
{{- $c := .Values.controller }}
{{- if lt (int (include "ytx.seconds" $c.kafkaStuckAfter)) (mul 2 (int (include "ytx.seconds" $c.kafkaLagInterval))) }}
{{- fail (printf "controller.kafkaStuckAfter %s is less than twice controller.kafkaLagInterval %s: a partition is found without progress by two looks at least; raise kafkaStuckAfter or lower kafkaLagInterval" $c.kafkaStuckAfter $c.kafkaLagInterval) }}
{{- end }}
{{- if or (eq $k.listingTopic $k.topic) (eq $k.listingTopic (include "ytx.deadLetterTopic" .)) }}
{{- fail (printf "kafka.listingTopic %s is the job topic or the dead-letter topic: listing jobs need a topic of their own, which workers older than playlists do not read" $k.listingTopic) }}
{{- end }}
{{- if eq (include "ytx.listingGroup" .) $k.group }}
{{- fail (printf "kafka.listingGroup %s is kafka.group: the workers read listings in a group of their own" $k.group) }}
{{- end }}
{{- if and $k.strimzi.enabled $k.external.enabled }}
{{- fail "kafka: kafka.strimzi.enabled and kafka.external.enabled are both true; choose one Kafka mode (set the other to false)" }}
{{- end }}
{{- if not (or $k.strimzi.enabled $k.external.enabled) }}
{{- fail "kafka: neither kafka.strimzi.enabled nor kafka.external.enabled is true; choose one Kafka mode" }}
{{- end }}
{{- if $k.external.enabled }}
{{- if not $k.external.brokers }}
{{- fail "kafka.external.brokers is empty: list the bootstrap addresses as host:port" }}
{{- end }}
{{- if and $k.external.tls.caSecret.name (not $k.external.tls.enabled) }}
{{- fail "kafka.external.tls.caSecret.name is set but kafka.external.tls.enabled is false" }}
{{- end }}
{{- if $k.external.sasl.mechanism }}
{{- if not $k.external.sasl.username }}
{{- fail "kafka.external.sasl.username is empty but kafka.external.sasl.mechanism is set" }}
{{- end }}
{{- if not $k.external.sasl.passwordSecret.name }}
{{- fail "kafka.external.sasl.passwordSecret.name is empty but kafka.external.sasl.mechanism is set" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $st := .Values.storage }}
{{- if eq $st.type "s3" }}
{{- if and (not $st.s3.trialServer.enabled) (not $st.s3.bucket) }}
{{- fail "storage.s3.bucket is empty but storage.type is s3 and storage.s3.trialServer.enabled is false: set the bucket (and endpoint, region, credentialsSecret) of your S3 store, or storage.s3.trialServer.enabled=true to have the chart run a small S3 server for trying ytx out" }}
{{- end }}
{{- if and $st.s3.trialServer.enabled $st.s3.endpoint }}
{{- fail (printf "storage.s3.endpoint is %s but storage.s3.trialServer.enabled is true: the files would go to the chart's trial server, not to %s; set storage.s3.trialServer.enabled=false to use your S3 store" $st.s3.endpoint $st.s3.endpoint) }}
{{- end }}
{{- else if and (not $st.pvc.existingClaim) (not (has "ReadWriteMany" $st.pvc.accessModes)) }}
{{- fail (printf "storage.pvc.accessModes is %v without ReadWriteMany: the controller and every worker mount the claim, from whichever nodes they run on, and a ReadWriteOnce volume attaches to one node only, so pods on the others would stay ContainerCreating for ever. Use a StorageClass that offers ReadWriteMany (NFS, CephFS, EFS, Azure Files, Filestore) with accessModes [ReadWriteMany], or storage.type=s3 (the default; storage.s3.trialServer runs a small S3 server on a ReadWriteOnce volume for trying ytx out)" $st.pvc.accessModes) }}
{{- end }}
{{- $grace := int (include "ytx.seconds" .Values.worker.shutdownGrace) }}
{{- if le (int (include "ytx.workerTerminationGrace" .)) $grace }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%s) must be larger than worker.shutdownGrace (%s = %ds)" (include "ytx.workerTerminationGrace" .) .Values.worker.shutdownGrace $grace) }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicas) (int .Values.keda.maxReplicas)) }}
{{- fail "keda.minReplicas is larger than keda.maxReplicas" }}
{{- end }}
{{- include "ytx.validateOwnNames" . }}
{{- if include "ytx.strimzi" . }}
{{- include "ytx.validateStrimziNames" . }}
{{- include "ytx.validateStrimziPoolKept" . }}
{{- end }}
{{- end }}

{{/*
The chart's own names that have a limit below the 253 characters of most
objects: a Service's name is a DNS label (63), and a CronJob's at most 52
(its Jobs add 11 characters). Each rendered one is checked, so that the API
server does not refuse it halfway through an install.
*/}}
{{- define "ytx.validateOwnNames" -}}
{{- $fn := include "ytx.fullname" . }}
{{- $names := list }}
{{- if or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled }}
{{- $names = append $names (list "Service" (printf "%s-controller-metrics" $fn) 63) }}
{{- $names = append $names (list "Service" (printf "%s-worker-metrics" $fn) 63) }}
{{- end }}
{{- if eq .Values.transport "http" }}
{{- $names = append $names (list "Service" (include "ytx.workerService" .) 63) }}
{{- end }}
{{- if include "ytx.trialS3" . }}
{{- $names = append $names (list "Service" (include "ytx.trialS3Name" .) 63) }}
{{- end }}
{{- if .Values.youtube.doctor.enabled }}
{{- $names = append $names (list "CronJob" (printf "%s-doctor" $fn) 52) }}
{{- end }}
{{- range $names }}
{{- $kind := index . 0 }}
{{- $name := index . 1 }}
{{- $max := index . 2 }}
{{- if gt (len $name) $max }}
{{- $room := sub $max (sub (len $name) (len $fn)) }}
{{- fail (printf "the %s %s has %d characters, more than the %d a %s's name may have, so the API server would refuse it; %s" $kind $name (len $name) $max $kind (include "ytx.shortenFullname" (dict "ctx" $ "max" $room))) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Strimzi derives the names of what it makes from the Kafka cluster's name and
the node pool's, and a name that is too long is refused by the API server at
run time, in Strimzi's operator, where the user sees only a cluster that never
becomes ready: refuse it here instead. From Strimzi 1.2.0's source:
- A node's pod is <cluster>-<pool>-<node id> (api/.../KafkaResources.java
  kafkaPodName; cluster-operator/.../model/KafkaPool.java componentName and
  nodeRef), and the pod's hostname and its label strimzi.io/pod-name are the
  same (model/WorkloadUtils.java createStatefulPod): a DNS label and a label
  value, 63 characters at most. This bounds the StrimziPodSet <cluster>-<pool>
  (label strimzi.io/controller-name) and the label strimzi.io/pool-name too.
  Strimzi gives the nodes of a cluster's only pool the IDs 0 to replicas-1.
- Of the names from the cluster's name alone, <cluster>-entity-topic-operator
  is the longest: the label strimzi.io/name of the Topic Operator's Secret and
  RoleBinding (model/EntityTopicOperator.java NAME_SUFFIX;
  operator-common/.../Labels.java generateDefaultLabels), 63 at most, and its
  certificate's CN (64 at most, certificate-issuer/.../OpenSslCertIssuer.java
  MAXIMUM_CN_LENGTH). It bounds the shorter ones: the Services
  <cluster>-kafka-bootstrap and <cluster>-kafka-brokers (DNS labels), the
  labels strimzi.io/cluster, strimzi.io/name <cluster>-kafka and
  <cluster>-entity-operator, the brokers' CN <cluster>-kafka. (Strimzi cuts
  app.kubernetes.io/instance and part-of to 63 itself.)
The pod rule is checked first: with the pool named after the full name it is
the one that binds. Each message gives a length that satisfies both.
*/}}
{{- define "ytx.validateStrimziNames" -}}
{{- $fn := include "ytx.fullname" . }}
{{- $cluster := include "ytx.kafkaCluster" . }}
{{- $pool := include "ytx.kafkaPool" . }}
{{- $poolSet := .Values.kafka.strimzi.poolName }}
{{- $lastID := toString (sub (int .Values.kafka.strimzi.replicas) 1) }}
{{- $pod := printf "%s-%s-%s" $cluster $pool $lastID }}
{{- $operator := printf "%s-entity-topic-operator" $cluster }}
{{- /* The longest full name that both rules allow, with this pool and these node IDs. */}}
{{- $clusterExtra := sub (len $cluster) (len $fn) }}
{{- $maxByOperator := sub (sub 63 (len "-entity-topic-operator")) $clusterExtra }}
{{- $podRoom := sub 63 (add $clusterExtra 2 (len $lastID)) }}
{{- $maxByPod := ternary (sub $podRoom (len $pool)) (div $podRoom 2) (not (empty $poolSet)) }}
{{- $shortenFN := include "ytx.shortenFullname" (dict "ctx" . "max" (min $maxByOperator $maxByPod)) }}
{{- if gt (len $pod) 63 }}
{{- $maxPool := sub (len $pool) (sub (len $pod) 63) }}
{{- $ways := list }}
{{- if and $poolSet (gt $maxPool 0) (le (len $operator) 63) }}
{{- $ways = append $ways (printf "shorten kafka.strimzi.poolName (%s) to at most %d characters" $pool $maxPool) }}
{{- end }}
{{- if $poolSet }}
{{- $ways = append $ways $shortenFN }}
{{- else }}
{{- $ways = append $ways (printf "the node pool is named after the full name, so %s" $shortenFN) }}
{{- if and (gt $maxPool 0) (le (len $operator) 63) }}
{{- $ways = append $ways (printf "set kafka.strimzi.poolName to a name of at most %d characters that no other KafkaNodePool in namespace %s has" $maxPool .Release.Namespace) }}
{{- end }}
{{- end }}
{{- fail (printf "kafka: Strimzi would name the pod of Kafka node %s %s (%d characters: the Kafka cluster %s, the node pool %s and the node ID), and a pod's name is also its hostname and a label value, which have at most 63 characters: the API server would refuse the pod and Kafka would never start; %s" $lastID $pod (len $pod) $cluster $pool (join "; or " $ways)) }}
{{- end }}
{{- if gt (len $operator) 63 }}
{{- fail (printf "kafka: the Kafka cluster name %s is too long for Strimzi, which labels the Topic Operator's objects and names its certificate %s (%d characters), where at most 63 fit, so the cluster would never become ready; %s" $cluster $operator (len $operator) $shortenFN) }}
{{- end }}
{{- end }}

{{/*
How to make the full name at most .max characters long, naming the values
it is made of; call with (dict "ctx" $ "max" 27).
*/}}
{{- define "ytx.shortenFullname" -}}
{{- $ctx := .ctx }}
{{- $fn := include "ytx.fullname" $ctx }}
{{- $name := default $ctx.Chart.Name $ctx.Values.nameOverride }}
{{- $maxRelease := sub .max (add1 (len $name)) }}
{{- if $ctx.Values.fullnameOverride -}}
shorten fullnameOverride ({{ $fn }}) to at most {{ .max }} characters
{{- else if contains $name $ctx.Release.Name -}}
shorten the release name ({{ $ctx.Release.Name }}, the full name as it contains {{ $name }}) to at most {{ .max }} characters, or set fullnameOverride to a name of at most {{ .max }} characters
{{- else -}}
shorten the full name {{ $fn }} (release name, dash, {{ if $ctx.Values.nameOverride }}nameOverride{{ else }}chart name{{ end }}) to at most {{ .max }} characters:
{{- if $ctx.Values.nameOverride }} a shorter release name or nameOverride, or
{{- else if gt $maxRelease 0 }} a release name of at most {{ $maxRelease }} characters, or
{{- end }} fullnameOverride set to a name of at most {{ .max }} characters
{{- end }}
{{- end }}

{{/*
Renaming the KafkaNodePool of an installed release would replace its Kafka
nodes with new, empty ones. The pool was named <fullname>-kafka-pool before
kafka.strimzi.poolName existed, so an upgrade of such an install without that
value would do just that: refuse it. Only `helm install` and `helm upgrade`
see the cluster (`lookup`); `helm template` and the tools built on it (Argo
CD) see nothing here, which is why the README's upgrade notes say it too.
Only pools of this release (Helm's annotation) and this Kafka cluster count:
a pool added by hand is left alone.
*/}}
{{- define "ytx.validateStrimziPoolKept" -}}
{{- $api := printf "%s/KafkaNodePool" .Values.kafka.strimzi.apiVersion }}
{{- if .Capabilities.APIVersions.Has $api }}
{{- $cluster := include "ytx.kafkaCluster" . }}
{{- $pool := include "ytx.kafkaPool" . }}
{{- $found := lookup .Values.kafka.strimzi.apiVersion "KafkaNodePool" .Release.Namespace "" }}
{{- range $p := $found.items }}
{{- $labels := $p.metadata.labels | default dict }}
{{- $annotations := $p.metadata.annotations | default dict }}
{{- if and (eq (index $labels "strimzi.io/cluster" | default "") $cluster) (eq (index $annotations "meta.helm.sh/release-name" | default "") $.Release.Name) (ne $p.metadata.name $pool) }}
{{- $old := printf "%s-%s-0" $cluster $p.metadata.name }}
{{- if gt (len $old) 63 }}
{{- fail (printf "kafka: this release's Kafka cluster %s has the node pool %s, whose pods' names (%s, %d characters) are too long for Kubernetes, so it never ran a Kafka node: delete it (kubectl -n %s delete kafkanodepool %s) and run the upgrade again, which makes the pool %s" $cluster $p.metadata.name $old (len $old) $.Release.Namespace $p.metadata.name $pool) }}
{{- end }}
{{- fail (printf "kafka: this release's Kafka cluster %s has the node pool %s, and this upgrade would rename it %s, which replaces the cluster's Kafka nodes with new, empty ones: set kafka.strimzi.poolName=%s to keep it (see \"Upgrading\" in the chart's README)" $cluster $p.metadata.name $pool $p.metadata.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* RBAC ------------------------------------------------------------------- */}}

{{/*
The rules of config/rbac/manager/role.yaml (generated by controller-gen from
the +kubebuilder:rbac markers of controllers/) without leases: those go into
the leader-election Role in the release's namespace. test/chart checks that
these stay the same as the generated ones.
*/}}
{{- define "ytx.controllerRules" -}}
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [ytx.dev]
  resources: [youtubeextractions]
  verbs: [create, delete, deletecollection, get, list, patch, update, watch]
- apiGroups: [ytx.dev]
  resources: [youtubeextractions/finalizers, youtubeplaylists/finalizers]
  verbs: [update]
- apiGroups: [ytx.dev]
  resources: [youtubeextractions/status, youtubeplaylists/status]
  verbs: [get, patch, update]
- apiGroups: [ytx.dev]
  resources: [youtubeplaylists]
  verbs: [get, list, patch, update, watch]
{{- end }}

{{/* The rules of config/rbac/worker/role.yaml (from workers/). */}}
{{- define "ytx.workerRules" -}}
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [ytx.dev]
  resources: [youtubeextractions]
  verbs: [get, list, watch]
- apiGroups: [ytx.dev]
  resources: [youtubeextractions/status, youtubeplaylists/status]
  verbs: [get, patch, update]
- apiGroups: [ytx.dev]
  resources: [youtubeplaylists]
  verbs: [get]
{{- end }}

{{/* Pods ------------------------------------------------------------------- */}}

{{- define "ytx.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ytx.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Environment shared by both containers. */}}
{{- define "ytx.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if eq .Values.storage.type "s3" }}
{{- with include "ytx.s3CredentialsSecret" . }}
{{- $c := $.Values.storage.s3.credentialsSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $c.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $c.secretKeyKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Flags shared by both programs. */}}
{{- define "ytx.commonArgs" -}}
- --storage={{ include "ytx.storageURL" . }}
- --metrics-bind-address=:8080
- --health-probe-bind-address=:8081
- --log-level={{ .Values.logLevel }}
- --log-format={{ .Values.logFormat }}
{{- end }}

{{- define "ytx.ports" -}}
- name: metrics
  containerPort: 8080
  protocol: TCP
- name: health
  containerPort: 8081
  protocol: TCP
{{- end }}

{{- define "ytx.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* Volume mounts shared by both containers. */}}
{{- define "ytx.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if eq .Values.storage.type "pvc" }}
- name: data
  mountPath: /var/lib/ytx
{{- end }}
{{- if include "ytx.kafkaCA" . }}
- name: kafka-ca
  mountPath: /etc/ytx/kafka-ca
  readOnly: true
{{- end }}
{{- if include "ytx.kafkaSASL" . }}
- name: kafka-user
  mountPath: /etc/ytx/kafka-user
  readOnly: true
{{- end }}
{{- if not (include "ytx.kafkaTransport" .) }}
- name: job-token
  mountPath: {{ include "ytx.jobTokenDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes shared by both pods; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "ytx.volumes" -}}
{{- $ctx := .ctx }}
{{- $k := $ctx.Values.kafka -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if eq $ctx.Values.storage.type "pvc" }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "ytx.pvcName" $ctx }}
{{- end }}
{{- if include "ytx.kafkaCA" $ctx }}
- name: kafka-ca
  secret:
    {{- if $k.strimzi.enabled }}
    secretName: {{ include "ytx.kafkaCluster" $ctx }}-cluster-ca-cert
    {{- else }}
    secretName: {{ $k.external.tls.caSecret.name }}
    {{- end }}
    defaultMode: 0440
    items:
      - key: {{ ternary "ca.crt" $k.external.tls.caSecret.key $k.strimzi.enabled }}
        path: ca.crt
{{- end }}
{{- if include "ytx.kafkaSASL" $ctx }}
- name: kafka-user
  secret:
    {{- if $k.strimzi.enabled }}
    secretName: {{ include "ytx.kafkaUsername" . }}
    {{- else }}
    secretName: {{ $k.external.sasl.passwordSecret.name }}
    {{- end }}
    defaultMode: 0440
    items:
      - key: {{ ternary "password" $k.external.sasl.passwordSecret.key $k.strimzi.enabled }}
        path: password
{{- end }}
{{- if not (include "ytx.kafkaTransport" $ctx) }}
- name: job-token
  secret:
    secretName: {{ $ctx.Values.jobToken.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $ctx.Values.jobToken.key }}
        path: token
{{- end }}
{{- end }}

{{/* Scheduling fields of a component's pod; call with its values. */}}
{{- define "ytx.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
How the workers (and ytx doctor) read YouTube: the resolver flags. The
free-form strings (extractor args, proxy URLs) are quoted: as plain YAML,
" #..." would be cut off as a comment and ": " would make the argument a map.
*/}}
{{- define "ytx.youtubeArgs" -}}
{{- $y := .Values.youtube -}}
{{- with $y.resolvers }}
- --resolvers={{ join "," . }}
{{- end }}
{{- with $y.kkdaiClient }}
- --kkdai-client={{ . }}
{{- end }}
- --ytdlp-timeout={{ $y.ytdlp.timeout }}
- --ytdlp-max-procs={{ $y.ytdlp.maxProcs }}
{{- range $y.ytdlp.extractorArgs }}
- {{ printf "--ytdlp-extractor-args=%s" . | quote }}
{{- end }}
{{- if $y.cookies.secretName }}
- --cookies-file=/etc/ytx/youtube-cookies/cookies.txt
{{- end }}
{{- with $y.proxy.urls }}
- {{ printf "--proxy=%s" (join "," .) | quote }}
{{- end }}
{{- if $y.proxy.secretName }}
- --proxy-file=/etc/ytx/youtube-proxies/proxies
{{- end }}
- --youtube-cooldown={{ $y.cooldown }}
- --youtube-min-interval={{ $y.minInterval }}
{{- end }}

{{/* The Secrets the resolver flags name, as volumes and mounts. */}}
{{- define "ytx.youtubeVolumes" -}}
{{- $y := .Values.youtube -}}
{{- if $y.cookies.secretName }}
- name: youtube-cookies
  secret:
    secretName: {{ $y.cookies.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $y.cookies.key }}
        path: cookies.txt
{{- end }}
{{- if $y.proxy.secretName }}
- name: youtube-proxies
  secret:
    secretName: {{ $y.proxy.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $y.proxy.key }}
        path: proxies
{{- end }}
{{- end }}

{{- define "ytx.youtubeVolumeMounts" -}}
{{- $y := .Values.youtube -}}
{{- if $y.cookies.secretName }}
- name: youtube-cookies
  mountPath: /etc/ytx/youtube-cookies
  readOnly: true
{{- end }}
{{- if $y.proxy.secretName }}
- name: youtube-proxies
  mountPath: /etc/ytx/youtube-proxies
  readOnly: true
{{- end }}
{{- end }}
