// Command kafkabroker runs a kfake Kafka broker as a process of its own, so
// that the fault-injection suite can kill it and start it again on the same
// port. With --data-dir its log, topics and consumer-group offsets survive
// the restart, as a real broker's do.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	dataDir := flag.String("data-dir", "", "directory that keeps the broker's state across restarts (empty: memory only)")
	partitions := flag.Int("partitions", 4, "partitions of the seeded topics")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	flag.Parse()
	if err := run(*listen, *dataDir, int32(*partitions), *topics); err != nil {
		fmt.Fprintln(os.Stderr, "kafkabroker:", err)
		os.Exit(1)
	}
}

func run(listen, dataDir string, partitions int32, topics string) error {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir), kfake.SyncWrites())
	}
	if topics != "" {
		opts = append(opts, kfake.SeedTopics(partitions, strings.Split(topics, ",")...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	fmt.Println("listening", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
	return nil
}
