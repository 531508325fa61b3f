// The signed-enclave builders live in src/sim/enclave.ts (`warden sim enclave` uses them too).
export * from '../src/sim/enclave.ts';
