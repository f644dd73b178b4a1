"""The local stack's event-source mappings: reads the logs table's stream on moto and hands
batches to one stream function (the webhook deliveries, or the log counters), as Lambda does on
AWS (docs/webhooks.md). The stack runs one poller per function.

On AWS, Lambda polls the stream, filters records with the template's FilterCriteria, invokes
the function with batches, retries from the record a partial batch answer names (or the whole
batch when the function fails), and after the last retry sends the batch's description to the
on-failure SQS queue. This does the same against moto, with the settings read from
template.yaml (the one place they are written):
  - records matching one of the mapping's filter patterns (equality, lists of values and
    `{"exists": true}`, the pattern forms the template uses), from where the last run stopped
    (a checkpoint file) or, the first time, from the mapping's StartingPosition;
  - batches of BatchSize, invoked through the watcher's Lambda invoke API;
  - retries: MaximumRetryAttempts (-1: until it succeeds), from the first record named (or the
    whole batch after an error), 1, 2, 4 ... seconds apart, at most 30 (on AWS, retries follow
    at once); BisectBatchOnFunctionError is not emulated;
  - then the batch's description goes to an SQS queue on moto (users-api-FUNCTION-dlq) and the
    poller moves past it.

usage: python scripts/stream_poller.py MOTO_URL LOGS_TABLE WATCHER_URL TEMPLATE CHECKPOINT FUNCTION
"""

import json
import sys
import time
import urllib.error
import urllib.request

import boto3
import yaml

POLL_SECONDS = 0.5


class Template(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !GetAtt, ...) as plain values."""


Template.add_multi_constructor("!", lambda loader, suffix, node: None)


def mapping_settings(template_path, function):
    with open(template_path) as f:
        template = yaml.load(f, Loader=Template)
    for resource in template["Resources"].values():
        binary = (resource.get("Metadata") or {}).get("BuildProperties", {}).get("Binary")
        if binary != function:
            continue
        for event in resource["Properties"]["Events"].values():
            if event["Type"] == "DynamoDB":
                properties = event["Properties"]
                patterns = [json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]
                return (patterns, properties["BatchSize"], properties["MaximumRetryAttempts"],
                        properties["StartingPosition"])
    raise SystemExit(f"template.yaml has no DynamoDB stream event for {function}")


def matches(pattern, value):
    """EventBridge-style matching: a dict descends, a list names the values allowed (or, as
    {"exists": true}, that there is one)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any((value is not None) == p["exists"] if isinstance(p, dict) else value == p
                   for p in pattern)
    return pattern == value


def as_event_record(record, stream_arn):
    """A boto3 stream record as Lambda hands it over (JSON: times as epoch seconds; the
    stream's ARN, whose label says when it was turned on)."""
    record = dict(record, eventSourceARN=stream_arn)
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if created is not None and not isinstance(created, (int, float)):
        data["ApproximateCreationDateTime"] = created.timestamp()
    record["dynamodb"] = data
    return record


class Poller:
    def __init__(self, moto_url, table, watcher_url, template_path, checkpoint_path, function):
        session = dict(endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
        self.dynamodb = boto3.client("dynamodb", **session)
        self.streams = boto3.client("dynamodbstreams", **session)
        self.sqs = boto3.client("sqs", **session)
        self.table = table
        self.watcher_url = watcher_url
        self.function = function
        self.patterns, self.batch_size, self.retries, self.start = mapping_settings(template_path, function)
        self.checkpoint_path = checkpoint_path
        # Shards this poller has looked at since it started.
        self.seen = set()

    def checkpoint(self):
        try:
            with open(self.checkpoint_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def save(self, shard, sequence):
        state = self.checkpoint()
        state[shard] = sequence
        with open(self.checkpoint_path, "w") as f:
            json.dump(state, f)

    def records_after(self, arn, shard):
        """The shard's records after the checkpoint (or from its start), from an iterator taken
        afresh on every poll: moto puts a copy of a table (and of its stream) in its place when
        a transaction on it fails, which leaves an iterator taken earlier reading a stream that
        nothing writes to any more."""
        after = self.checkpoint().get(shard)
        kind = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                else {"ShardIteratorType": "TRIM_HORIZON"})
        try:
            found = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **kind)
        except self.streams.exceptions.ClientError:
            # A checkpoint this stream no longer holds (the tables were reset): from its start.
            found = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                    ShardIteratorType="TRIM_HORIZON")
        return self.streams.get_records(ShardIterator=found["ShardIterator"], Limit=100)["Records"]

    def poll_once(self):
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
        if not arn:
            return
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            records = self.records_after(arn, shard_id)
            if shard_id not in self.seen and self.start == "LATEST" and shard_id not in self.checkpoint():
                # StartingPosition LATEST: what the shard held before this mapping began is passed over.
                while records:
                    self.save(shard_id, records[-1]["dynamodb"]["SequenceNumber"])
                    records = self.records_after(arn, shard_id)
            self.seen.add(shard_id)
            wanted = [as_event_record(r, arn) for r in records
                      if any(matches(p, r) for p in self.patterns)]
            for start in range(0, len(wanted), self.batch_size):
                self.deliver(wanted[start:start + self.batch_size])
            if records:
                self.save(shard_id, records[-1]["dynamodb"]["SequenceNumber"])

    def invoke(self, batch):
        """The batch items to retry: [] when all went, None when the function failed."""
        url = f"{self.watcher_url}/2015-03-31/functions/{self.function}/invocations"
        request = urllib.request.Request(url, data=json.dumps({"Records": batch}, default=str).encode(),
                                         method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                answer = json.loads(reply.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as err:
            print(f"stream poller: {self.function} failed: {err}", file=sys.stderr)
            return None
        if answer is None:  # a function without partial batch answers: all went
            return []
        if not isinstance(answer, dict) or "errorMessage" in answer:
            print(f"stream poller: {self.function} failed: {answer}", file=sys.stderr)
            return None
        return [f["itemIdentifier"] for f in answer.get("batchItemFailures") or []]

    def deliver(self, batch):
        attempt = 0
        while True:
            failed = self.invoke(batch)
            if failed == []:
                return
            if failed:
                first = next((i for i, r in enumerate(batch)
                              if r["dynamodb"]["SequenceNumber"] in failed), 0)
                batch = batch[first:]
            if 0 <= self.retries <= attempt:
                break
            time.sleep(min(2 ** attempt, 30))
            attempt += 1
        self.dead_letter(batch)

    def dead_letter(self, batch):
        name = f"users-api-{self.function}-dlq"
        queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        body = {"requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function},
                "DDBStreamBatchInfo": {"streamArn": self.table, "startSequenceNumber": sequences[0],
                                       "endSequenceNumber": sequences[-1], "batchSize": len(batch)}}
        self.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
        print(f"stream poller: {len(batch)} records dead-lettered to {name}", file=sys.stderr)


def main():
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    poller = Poller(*sys.argv[1:])
    # An empty batch first: the watcher builds the function now, not at the first change.
    while poller.invoke([]) is None:
        time.sleep(2)
    while True:
        try:
            poller.poll_once()
        except Exception as err:  # the emulator restarting, a shard closing: start over
            print(f"stream poller: {err}", file=sys.stderr)
            time.sleep(2)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
