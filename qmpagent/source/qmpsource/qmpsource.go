package qmpsource

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Config configures the QMP source.
type Config struct {
	// SocketRoots are the folders QMP sockets are trusted under.
	SocketRoots []string
	// Tenancy says which folder beneath each root a VM's namespace may
	// use (the zero value: the folder named like the namespace).
	Tenancy source.Tenancy
	// QMP configures the QMP client.
	QMP qmp.Options
	// MinBackoff and MaxBackoff bound reconnect waits.
	MinBackoff, MaxBackoff time.Duration
	// DiscoverGlob, when set, turns discovery on: a VirtualMachine is
	// created in DiscoverNamespace for each matching QMP socket.
	DiscoverGlob      string
	DiscoverNamespace string
	// DiscoverInterval is the time between discovery scans.
	DiscoverInterval time.Duration
	// DiscoverGoneGrace is how long a discovered VM's socket may be gone
	// before its VirtualMachine is deleted (Discovery.GoneGrace).
	DiscoverGoneGrace time.Duration
}

// Source runs one Session per VirtualMachine of the node that names a QMP
// socket (spec.qmp.socketPath), and, when configured, discovers sockets no
// VirtualMachine names. It is a source.Follower: the agent tells it of
// every VirtualMachine of the node as it changes.
type Source struct {
	cfg Config
	pub source.Publisher

	mu  sync.Mutex
	ctx context.Context // Start's; nil before Start and after it returned
	// sessions are the running sessions; waiting the VMs followed before
	// Start, whose sessions it starts.
	sessions map[types.NamespacedName]*running
	waiting  map[types.NamespacedName]*vmv1.VirtualMachine
	// claims gives each resolved socket to one VM.
	claims source.Claims
}

// running is a live session.
type running struct {
	// socketPath and uuid are what it follows: a change of either in the
	// VM's spec starts a new session.
	socketPath, uuid string
	cancel           context.CancelFunc
	done             chan struct{}
	// conn is the session's verified connection while it is up.
	conn atomic.Pointer[qmp.Conn]
}

var (
	_ source.Follower   = (*Source)(nil)
	_ source.Remediator = (*Source)(nil)
)

// New returns the QMP source, publishing through p.
func New(p source.Publisher, cfg Config) *Source {
	return &Source{cfg: cfg, pub: p,
		sessions: map[types.NamespacedName]*running{}, waiting: map[types.NamespacedName]*vmv1.VirtualMachine{}}
}

// Name implements source.Source.
func (s *Source) Name() string { return vmv1.SourceQMP }

// Start runs the sessions (and discovery) until ctx ends, then stops every
// session and waits for it.
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	waiting := s.waiting
	s.waiting = map[types.NamespacedName]*vmv1.VirtualMachine{}
	s.mu.Unlock()
	for _, vm := range waiting {
		s.Follow(vm)
	}
	var discovering sync.WaitGroup
	if s.cfg.DiscoverGlob != "" {
		d := &Discovery{Publisher: s.pub, Glob: s.cfg.DiscoverGlob, Roots: s.cfg.SocketRoots,
			Folder:    s.cfg.Tenancy.SocketFolder(s.cfg.DiscoverNamespace),
			Namespace: s.cfg.DiscoverNamespace, Interval: s.cfg.DiscoverInterval, QMP: s.cfg.QMP,
			GoneGrace: s.cfg.DiscoverGoneGrace}
		discovering.Add(1)
		go func() { defer discovering.Done(); d.Run(ctx) }()
	}
	<-ctx.Done()
	s.mu.Lock()
	s.ctx = nil
	sessions := s.sessions
	s.sessions = map[types.NamespacedName]*running{}
	s.mu.Unlock()
	for _, r := range sessions {
		r.cancel()
		<-r.done
	}
	discovering.Wait()
	return nil
}

// Follow implements source.Follower: it runs a session for the VM's
// current socket path, replacing one that follows an old path, or ends the
// VM's session when it names no socket.
func (s *Source) Follow(vm *vmv1.VirtualMachine) {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	if vm.Spec.QMP == nil {
		s.Forget(key)
		return
	}
	path := vm.Spec.QMP.SocketPath
	s.mu.Lock()
	if s.ctx == nil {
		s.waiting[key] = vm.DeepCopy()
		s.mu.Unlock()
		return
	}
	if r, ok := s.sessions[key]; ok && r.socketPath == path && r.uuid == vm.Spec.UUID {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.Forget(key)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	r := &running{socketPath: path, uuid: vm.Spec.UUID, cancel: cancel, done: make(chan struct{})}
	s.sessions[key] = r
	metrics.Sessions.Inc()
	sk := &sink{pub: s.pub, target: source.TargetOf(vm)}
	session := &Session{
		SocketPath: path,
		Roots:      s.cfg.SocketRoots,
		Folder:     s.cfg.Tenancy.SocketFolder(vm.Namespace),
		UUID:       vm.Spec.UUID,
		Claims:     &s.claims,
		Key:        key,
		Sink:       sk,
		Facts:      s.pub.Facts(vm),
		QMP:        s.cfg.QMP,
		MinBackoff: s.cfg.MinBackoff,
		MaxBackoff: s.cfg.MaxBackoff,
		Log:        ctrl.Log.WithName("session").WithValues("vm", key.String()),
		Live:       &r.conn,
	}
	go s.run(ctx, r, sk, session)
}

// run runs a session to its end, then releases what it held.
//
// The session's goroutine waits for events beneath this frame for its
// whole life, so the frame is kept small: no defers (a panic ends the
// agent anyway), few arguments. With the frames above it (Session.Run,
// connectOnce, the qmp client's wait) an idle session then uses under a
// quarter of 8 KiB, and the runtime shrinks its stack to 4 KiB: 4 MiB less
// with a thousand sessions.
//
//go:noinline
func (s *Source) run(ctx context.Context, r *running, sk *sink, session *Session) {
	session.Run(ctx)
	sk.close()
	metrics.Sessions.Dec()
	s.claims.Release(session.Key)
	close(r.done)
}

// Forget implements source.Follower: it ends the VM's session and waits
// for it.
func (s *Source) Forget(key types.NamespacedName) {
	s.mu.Lock()
	r, ok := s.sessions[key]
	delete(s.sessions, key)
	delete(s.waiting, key)
	s.mu.Unlock()
	if !ok {
		return
	}
	r.cancel()
	<-r.done
}
