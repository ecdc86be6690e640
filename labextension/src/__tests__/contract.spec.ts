/**
 * The TypeScript interfaces of api.ts against the OpenAPI contract
 * (jupyter_blocks/openapi.yaml): the same properties, required alike.
 *
 * Each table below must list exactly the keys of its interface, with `true`
 * where the interface requires the key (the compiler checks that); the test
 * checks each table against the contract's schema.
 */
import { readFileSync } from 'fs';
import { load } from 'js-yaml';
import { resolve } from 'path';

import type {
  IErrorBody,
  IErrorDetail,
  IGrid,
  IGridData,
  IGridPage,
  IGridShape,
  IGridSummary,
  IMe,
  IRemix
} from '../api';

/** `true` for each key `T` requires, `false` for each optional one. */
type Requiredness<T> = {
  [K in keyof T]-?: object extends Pick<T, K> ? false : true;
};

const summary: Requiredness<IGridSummary> = {
  id: true,
  secret: true,
  url: true,
  thumbnail_url: true,
  author: true,
  title: true,
  created: true,
  ipb_class: true,
  width: true,
  height: true,
  owned: true,
  can_delete: true,
  parent: true
};

const grid: Requiredness<IGrid> = {
  ...summary,
  grid_data: true,
  code_cells: true,
  ipb_version: true,
  python_version: true,
  remixes: true
};

const tables: [string[], Record<string, boolean>][] = [
  [['GridFields'], summary],
  [['GridFields', 'Grid'], grid],
  [
    ['Remix'],
    {
      id: true,
      title: true,
      author: true,
      url: true
    } satisfies Requiredness<IRemix>
  ],
  [['GridPage'], { items: true, next: true } satisfies Requiredness<IGridPage>],
  [
    ['Me'],
    {
      author: true,
      moderator: true
    } satisfies Requiredness<IMe>
  ],
  [
    ['Error'],
    { message: true, errors: true } satisfies Requiredness<IErrorBody>
  ],
  [
    ['FieldError'],
    { path: true, message: true } satisfies Requiredness<IErrorDetail>
  ],
  [
    ['GridData'],
    {
      lines_on: true,
      width: true,
      height: true,
      blocks: true,
      origin: false
    } satisfies Requiredness<IGridData>
  ],
  [
    ['GridShape'],
    {
      lines_on: true,
      width: true,
      height: true
    } satisfies Requiredness<IGridShape>
  ]
];

interface ISchema {
  properties?: Record<string, unknown>;
  required?: string[];
}

const contract = load(
  readFileSync(
    resolve(__dirname, '../../../jupyter_blocks/openapi.yaml'),
    'utf-8'
  )
) as { components: { schemas: Record<string, ISchema> } };

describe('api.ts types', () => {
  it.each(tables)('match the contract schema %j', (names, table) => {
    const schemas = names.map(name => contract.components.schemas[name]);
    const properties = schemas.flatMap(schema =>
      Object.keys(schema.properties ?? {})
    );
    const required = schemas.flatMap(schema => schema.required ?? []);
    expect(Object.keys(table).sort()).toEqual([...properties].sort());
    const requiredInTable = Object.keys(table).filter(key => table[key]);
    expect(requiredInTable.sort()).toEqual([...required].sort());
  });
});
