module github.com/vmevents/vmevents/test/qmpbench

go 1.26.0

require (
	github.com/digitalocean/go-qemu v0.0.0-20250212194115-ee9b0668d242
	github.com/vmevents/vmevents v0.0.0-00010101000000-000000000000
)

require (
	github.com/digitalocean/go-libvirt v0.0.0-20250317183548-13bf9b43b50b // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/vmevents/vmevents => ../..
