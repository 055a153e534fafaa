import { z } from 'zod';

const STANDARD_BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;

/** How to open a serial port; shared by line sensors (and, later, Modbus buses). */
export const serialPortFields = {
  port: z
    .string()
    .regex(/^\//, 'expected a device path such as "/dev/serial/by-id/usb-FTDI_…-if00-port0"')
    .meta({ description: 'Device path. Prefer /dev/serial/by-id/… (stable across reboots and replugging; `edge-agent ports` lists them) over /dev/ttyUSB0.' }),
  baudRate: z
    .union(STANDARD_BAUD_RATES.map((rate) => z.literal(rate)) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>, ...z.ZodLiteral<number>[]], { error: `expected one of ${STANDARD_BAUD_RATES[0]} … ${STANDARD_BAUD_RATES[STANDARD_BAUD_RATES.length - 1]}` })
    .default(9600),
  dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
  parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none'),
  stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
  rs485: z
    .strictObject({
      enabled: z.boolean().default(true),
      rtsOnSend: z.boolean().default(true),
      rtsAfterSend: z.boolean().default(false),
    })
    .optional()
    .meta({ description: 'Kernel RS-485 mode (TIOCSRS485), for adapters whose driver supports it.' }),
};
