package app

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatbridge/chatbridge/bridge"
)

// metrics implements bridge.Metrics with Prometheus collectors.
type metrics struct {
	reg        *prometheus.Registry
	in         *prometheus.CounterVec
	out        *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deliveryEr *prometheus.CounterVec
}

var _ bridge.Metrics = (*metrics)(nil)

func newMetrics(eng *bridge.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbridge_messages_in_total", Help: "Messages accepted, by author (visitor, operator).",
		}, []string{"from"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbridge_messages_out_total", Help: "Outbox entries delivered, by destination.",
		}, []string{"destination"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatbridge_delivery_latency_seconds",
			Help:    "Time from commit to successful delivery, by destination.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"destination"}),
		deliveryEr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbridge_adapter_errors_total", Help: "Failed delivery attempts, by destination.",
		}, []string{"destination"}),
	}
	m.reg.MustRegister(m.in, m.out, m.latency, m.deliveryEr,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{eng: eng},
	)
	return m
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) MessageIn(from bridge.From)             { m.in.WithLabelValues(string(from)).Inc() }
func (m *metrics) MessageOut(dest string)                 { m.out.WithLabelValues(dest).Inc() }
func (m *metrics) DeliveryError(dest string)              { m.deliveryEr.WithLabelValues(dest).Inc() }
func (m *metrics) DeliveryLatency(dest string, s float64) { m.latency.WithLabelValues(dest).Observe(s) }

// storeCollector reads gauges from the store at scrape time.
type storeCollector struct{ eng *bridge.Engine }

var (
	outboxDesc = prometheus.NewDesc("chatbridge_outbox_depth", "Outbox entries waiting, by destination.", []string{"destination"}, nil)
	convDesc   = prometheus.NewDesc("chatbridge_conversations", "Conversations in the store, by status.", []string{"status"}, nil)
	liveDesc   = prometheus.NewDesc("chatbridge_live_subscribers", "Live connections (widget streams, long polls, inbox pages).", nil, nil)
	deadDesc   = prometheus.NewDesc("chatbridge_outbox_dead", "Dead letters (deliveries refused for good, or given up), by destination (alert on any: `chatbridge outbox list --dead`).", []string{"destination"}, nil)
	leadDesc   = prometheus.NewDesc("chatbridge_cluster_leader", "Singletons this node leads in a cluster (1 each): outbox/<destination>, matrix-sync, maintenance.", []string{"singleton"}, nil)
	storeUp    = prometheus.NewDesc("chatbridge_store_up", "Whether the store answered the scrape's read (1) or not (0): the etcd cluster's reachability in cluster mode.", nil, nil)
	oldestDesc = prometheus.NewDesc("chatbridge_outbox_oldest_seconds", "Age of the oldest waiting delivery, by destination (alert on it: a destination is stuck).", []string{"destination"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc
	ch <- convDesc
	ch <- liveDesc
	ch <- oldestDesc
	ch <- deadDesc
	ch <- leadDesc
	ch <- storeUp
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.eng.OutboxStats(ctx)
	var open, cl int
	if err == nil {
		open, err = c.eng.CountConversations(ctx, bridge.StatusOpen)
	}
	if err == nil {
		cl, err = c.eng.CountConversations(ctx, bridge.StatusClosed)
	}
	now := c.eng.Now()
	depth, oldest := st.Depth, map[string]float64{}
	for d, t := range st.Oldest {
		oldest[d] = now.Sub(t).Seconds()
	}
	for _, name := range c.eng.Singletons() {
		ch <- prometheus.MustNewConstMetric(leadDesc, prometheus.GaugeValue, 1, name)
	}
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(storeUp, prometheus.GaugeValue, up)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxDesc, err)
		return
	}
	for d, n := range depth {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n), d)
	}
	for d, s := range oldest {
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, s, d)
	}
	for d, n := range st.Dead {
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(n), d)
	}
	ch <- prometheus.MustNewConstMetric(convDesc, prometheus.GaugeValue, float64(open), "open")
	ch <- prometheus.MustNewConstMetric(convDesc, prometheus.GaugeValue, float64(cl), "closed")
	ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(c.eng.Hub().Subscribers()))
}
